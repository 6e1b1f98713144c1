#!/usr/bin/python3
"""The trust directory replaced by a freshly made PKI (issue 23).

An admin replaces /etc/vitaled/trust.d with a new PKI whose certificates
have the same names and serial numbers as the old one, but new keys.  The
daemon reads the directory at start and on reload (SIGHUP) only: until the
reload the old store is in force.  Whichever side is stale, a card whose
signer matches the store by name and serial but not by key must come out
`untrusted` (its chain does not validate), never `forged` (a signature that
fails under a signer the store vouches for); after the reload the new PKI's
card is `verified`.  Real pcscd, vpcd, the card emulator, vitaled on a
private bus; both PKIs made with openssl at test time.

The `forged` of issue 23 was the trust store's signer, found by issuer and
serial number, standing in for the certificate the card carries: the old
key then checked the new key's signature.  The daemon of the tree before
09be0cd ("the trust store's copy stands in only when byte-identical") says
`forged` at points 3 and 6; mutant sod-store-signer-by-name plants it again.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest.tap import Tap  # noqa: E402
from vtest.cardrig import Rig, HarnessUnavailable  # noqa: E402
from vtest import pki  # noqa: E402


def make_pki(out):
    subprocess.run(["sh", pki.MKPKI, out, "--demo"], check=True, stdout=subprocess.DEVNULL)
    return out


def cert_facts(path):
    """(subject, issuer, serial) and the public key of a certificate."""
    names = subprocess.run(["openssl", "x509", "-noout", "-subject", "-issuer", "-serial",
                            "-in", path], capture_output=True, text=True, check=True).stdout
    key = subprocess.run(["openssl", "x509", "-noout", "-pubkey", "-in", path],
                         capture_output=True, text=True, check=True).stdout
    return names, key


def install(src, trust):
    """Replace the trust directory as an admin would: remove, copy anew."""
    shutil.rmtree(trust)
    shutil.copytree(os.path.join(src, "trust.d"), trust)


def read(rig, pki_dir):
    at = rig.mark()
    card = rig.insert(0, profile="card", variant="demo", pki=pki_dir)
    v = rig.verdict(0, at)
    rig.remove(0, card)
    return v


def reload(rig):
    at = rig.mark()
    rig.daemon.signal(signal.SIGHUP)
    rig.wait(r"trust: \d+ roots", at)


def main():
    t = Tap()
    tmp = tempfile.mkdtemp(prefix="vitaled-trust-replace-")
    try:
        old = make_pki(os.path.join(tmp, "old"))
        new = make_pki(os.path.join(tmp, "new"))
        same, differs = True, True
        for name in ("root.pem", "ds-es256.pem"):
            a = cert_facts(os.path.join(old, "trust.d", name))
            b = cert_facts(os.path.join(new, "trust.d", name))
            same = same and a[0] == b[0]
            differs = differs and a[1] != b[1]
        t.ok(same and differs, "the two PKIs: same names and serial numbers, other keys")
        trust = os.path.join(tmp, "trust.d")
        shutil.copytree(os.path.join(old, "trust.d"), trust)
        try:
            rig = Rig(conf="[Trust]\nAllowTestCards = true\n", trust=trust)
            rig.start()
        except HarnessUnavailable as e:
            t.skip("trust replacement", str(e))
            t.done()
        with rig:
            v = read(rig, old)
            t.eq(v["status"], "verified", "the old PKI's card, old store: verified")

            install(new, trust)
            v = read(rig, new)
            t.eq((v["status"], v["reason"].startswith("signer certificate")),
                 ("untrusted", True),
                 "directory replaced, no reload: the new card is untrusted, not forged (%s)"
                 % v["reason"])
            v = read(rig, old)
            t.eq(v["status"], "verified",
                 "... and the old store is still in force: the old card is verified")

            reload(rig)
            v = read(rig, new)
            t.eq(v["status"], "verified", "after the reload, the new card is verified")
            v = read(rig, old)
            t.eq((v["status"], v["reason"].startswith("signer certificate")),
                 ("untrusted", True),
                 "after the reload, the old card is untrusted, not forged (%s)" % v["reason"])

            status, report = rig.finish()
            t.eq((status, report), (0, []), "vitaled stops cleanly")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    t.done()


if __name__ == "__main__":
    main()
