"""The test PKI (tests/pki/mkpki.sh), made once per build tree and cached."""
import os
import subprocess
import tempfile

SRCDIR = os.environ.get("top_srcdir") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
MKPKI = os.path.join(SRCDIR, "tests", "pki", "mkpki.sh")


def pki_dir(demo=False):
    """Path of the test (or demo) PKI: OUTDIR/trust.d and OUTDIR/private.

    Lives in $top_builddir/tests/pki.d (or the temp dir outside make);
    mkpki.sh is idempotent and safe to run from parallel tests."""
    base = os.environ.get("top_builddir") or os.path.join(
        tempfile.gettempdir(), "vitaled-vtest-%d" % os.getuid())
    out = os.path.join(base, "tests", "pki.d", "demo" if demo else "test")
    argv = ["sh", MKPKI, out] + (["--demo"] if demo else [])
    subprocess.run(argv, check=True)
    return out


def trust_dir(demo=False):
    return os.path.join(pki_dir(demo), "trust.d")


def private(name, demo=False):
    """Path of a key or certificate under private/, e.g. private("ds-es256.pem")."""
    return os.path.join(pki_dir(demo), "private", name)
