"""The test PKI (tests/pki/mkpki.sh), made once per build tree and cached."""
import hashlib
import os
import subprocess
import tempfile

SRCDIR = os.environ.get("top_srcdir") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
MKPKI = os.path.join(SRCDIR, "tests", "pki", "mkpki.sh")


def pki_dir(demo=False):
    """Path of the test (or demo) PKI: OUTDIR/trust.d and OUTDIR/private.

    Made once under the temp dir, in a directory named after a hash of
    mkpki.sh (a changed script makes a new PKI; the build tree stays clean
    for distcheck); mkpki.sh is idempotent and safe from parallel tests: it
    builds in a private directory renamed into place under a lock
    (tests/test-pki.py checks it)."""
    with open(MKPKI, "rb") as f:
        tag = hashlib.sha256(f.read()).hexdigest()[:12]
    base = os.path.join(tempfile.gettempdir(), "vitaled-vtest-%d" % os.getuid(), "pki-" + tag)
    out = os.path.join(base, "demo" if demo else "test")
    argv = ["sh", MKPKI, out] + (["--demo"] if demo else [])
    subprocess.run(argv, check=True)
    return out


def trust_dir(demo=False):
    return os.path.join(pki_dir(demo), "trust.d")


def private(name, demo=False):
    """Path of a key or certificate under private/, e.g. private("ds-es256.pem")."""
    return os.path.join(pki_dir(demo), "private", name)
