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
