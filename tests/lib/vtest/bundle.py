"""Trust bundles at test time (doc/formats.md section 14): a trust-list PKI
made with the openssl command, and bundles built by running the real
tools/vitaled-trust-bundle."""
import os
import shutil
import subprocess

from . import paths

EXT = """[ req ]
distinguished_name = dn
[ dn ]
[ root ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ signer ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _ossl(*argv):
    r = subprocess.run(["openssl"] + list(argv), capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("openssl %s: %s" % (argv[0], r.stderr.strip()))


class TrustListPki:
    """In base: roots/ (what an admin pins: trust-list-root.d), and keys
    and certificates of trust-list roots and signers.

    root-a and root-b are both pinned (rotation by overlap); signer-a and
    signer-b chain to them; signer-foreign chains to foreign-root, which is
    not pinned."""

    def __init__(self, base):
        self.base = base
        self.roots = os.path.join(base, "trust-list-root.d")
        os.makedirs(self.roots, exist_ok=True)
        with open(self.path("ext.cnf"), "w") as f:
            f.write(EXT)
        for name in ("root-a", "root-b", "foreign-root"):
            self._root(name)
        self._signer("signer-a", "root-a")
        self._signer("signer-b", "root-b")
        self._signer("signer-foreign", "foreign-root")
        for name in ("root-a", "root-b"):
            shutil.copy(self.path(name + ".pem"), self.roots)

    def path(self, name):
        return os.path.join(self.base, name)

    def _key(self, name):
        _ossl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-out", self.path(name + ".key"))

    def _root(self, name):
        self._key(name)
        _ossl("req", "-new", "-x509", "-key", self.path(name + ".key"),
              "-subj", "/C=FR/O=vitaled test/CN=trust list %s" % name, "-days", "3650",
              "-config", self.path("ext.cnf"), "-extensions", "root",
              "-out", self.path(name + ".pem"))

    def _signer(self, name, root):
        self._key(name)
        _ossl("req", "-new", "-key", self.path(name + ".key"), "-config", self.path("ext.cnf"),
              "-subj", "/C=FR/O=vitaled test/CN=trust list %s" % name,
              "-out", self.path(name + ".csr"))
        argv = ["x509", "-req", "-in", self.path(name + ".csr"),
                "-CA", self.path(root + ".pem"), "-CAkey", self.path(root + ".key"),
                "-set_serial", str(len(os.listdir(self.base)) + 2), "-days", "3650",
                "-extfile", self.path("ext.cnf"), "-extensions", "signer",
                "-out", self.path(name + ".pem")]
        _ossl(*argv)

    def build(self, trust_dir, out, version, expires="@4102444800", issued=None,
              signer="signer-a", check=True):
        """Run the real builder; its CompletedProcess."""
        return build(trust_dir, out, version, self.path(signer + ".pem"),
                     self.path(signer + ".key"), expires=expires, issued=issued,
                     check=check)


def tool():
    return os.path.join(paths.builddir(), "tools", "vitaled-trust-bundle")


def build(trust_dir, out, version, signer, key, expires="@4102444800", issued=None,
          chain=None, check=True):
    argv = [tool(), "--version", str(version), "--expires", expires,
            "--signer", signer, "--key", key]
    if issued:
        argv += ["--issued", issued]
    if chain:
        argv += ["--chain", chain]
    r = subprocess.run(argv + [trust_dir, out], capture_output=True, text=True)
    if check and r.returncode:
        raise RuntimeError("vitaled-trust-bundle: %s" % r.stderr.strip())
    return r


# -- an independent encoder of the format (doc/formats.md 14.2), signed by
# the openssl command: for bundles the builder refuses to make (a member
# whose hash does not match), and to check the builder against the text.

OID = "2.25.278598275296730131776331395509913683680"


def _der(tag, body):
    n = len(body)
    if n < 0x80:
        head = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + head + body


def _int(v):
    raw = v.to_bytes(v.bit_length() // 8 + 1, "big")   # a leading 00 keeps it positive
    while len(raw) > 1 and raw[0] == 0 and raw[1] < 0x80:
        raw = raw[1:]
    return _der(0x02, raw)


def _time(t):
    import time as _t
    return _der(0x18, _t.strftime("%Y%m%d%H%M%SZ", _t.gmtime(t)).encode())


def manifest(version, issued, expires, members, hashes=None):
    """DER TrustBundle; members: [(name, bytes)] in order; hashes: name ->
    the sha256 to write instead of the right one."""
    import hashlib
    items = b""
    for name, data in members:
        digest = (hashes or {}).get(name, hashlib.sha256(data).digest())
        items += _der(0x30, _der(0x0C, name.encode()) + _der(0x04, digest) + _der(0x04, data))
    return _der(0x30, _int(1) + _int(version) + _time(issued) + _time(expires)
                + _der(0x30, items))


def sign(content, out, signer, key, workdir):
    """A bundle of this DER content, signed by the openssl command."""
    src = os.path.join(workdir, "manifest.der")
    with open(src, "wb") as f:
        f.write(content)
    _ossl("cms", "-sign", "-binary", "-nodetach", "-outform", "DER", "-econtent_type", OID,
          "-nosmimecap", "-md", "sha256", "-signer", signer, "-inkey", key,
          "-in", src, "-out", out)


def content(bundle, roots_pem):
    """The eContent of a bundle, from `openssl cms -verify`."""
    out = bundle + ".content"
    _ossl("cms", "-verify", "-inform", "DER", "-binary", "-in", bundle,
          "-CAfile", roots_pem, "-out", out)
    with open(out, "rb") as f:
        return f.read()


def members_of(trust_dir):
    """The (name, bytes) a bundle of trust_dir carries, in the format's order."""
    names = sorted(n for n in os.listdir(trust_dir) if not n.startswith(".") and
                   (n.endswith(".pem") or n.endswith(".crl") or n == "opposition.txt"))
    out = []
    for n in sorted(names, key=lambda s: s.encode()):
        with open(os.path.join(trust_dir, n), "rb") as f:
            out.append((n, f.read()))
    return out
