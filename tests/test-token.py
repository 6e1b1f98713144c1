#!/usr/bin/python3
"""Token verdicts with the real test PKI and tests/tokens/mktoken.py.

Every variant the generator knows must get its verdict from the engine
(tests/unit/token-check runs vd_token_verify as the daemon does), and the
replay cache must hold across restarts (a new process each time) and
survive a corrupt file without reopening the window.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("top_srcdir", ".")
BUILD = os.environ.get("top_builddir", ".")
sys.path.insert(0, os.path.join(SRC, "tests", "lib"))
from vtest.tap import Tap  # noqa: E402
from vtest import pki as vpki  # noqa: E402

CHECK = os.path.join(BUILD, "tests", "unit", "token-check")
MKTOKEN = os.path.join(SRC, "tests", "tokens", "mktoken.py")
NOW = 1800000000        # 2027-01-15, inside the test signers' validity


def mktoken(variant, now=NOW, **kw):
    argv = ["/usr/bin/python3", MKTOKEN, "--pki", vpki.pki_dir(), "--variant", variant,
            "--now", str(now), "--json"]
    for k, v in kw.items():
        argv += ["--" + k, str(v)]
    p = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120)
    return json.loads(p.stdout)


def check(tokens, now=NOW, replay="-"):
    """[(status, reason)] for each token, and the '#' lines."""
    p = subprocess.run([CHECK, vpki.trust_dir(), replay, str(now)] + list(tokens),
                       capture_output=True, text=True, timeout=120)
    if p.returncode not in (0, 1):
        raise AssertionError("token-check failed (%d): %s" % (p.returncode, p.stderr))
    lines = p.stdout.splitlines()
    verdicts = [tuple(ln.split(" ", 1)) for ln in lines if not ln.startswith("#")]
    notes = [ln for ln in lines if ln.startswith("#")]
    if any("has_record" in n for n in notes):
        raise AssertionError("data handed out with a verdict other than verified")
    if (p.returncode == 0) != all(v[0] == "verified" for v in verdicts):
        raise AssertionError("exit status does not match the verdicts")
    return verdicts, notes


def test_variants(t):
    listing = subprocess.run(["/usr/bin/python3", MKTOKEN, "--list"], capture_output=True,
                             text=True, check=True).stdout
    for variant, want in json.loads(listing).items():
        info = mktoken(variant)
        if variant == "replayed":
            with tempfile.TemporaryDirectory() as d:
                got, _ = check(info["tokens"], replay=os.path.join(d, "replay"))
            t.eq([g[0] for g in got], ["verified", "replayed"], "variant replayed")
            continue
        got, _ = check([info["token"]])
        t.eq(got[0][0], want, "variant %s (%s)" % (variant, got[0][1]))


def test_replay_restart(t):
    with tempfile.TemporaryDirectory() as d:
        cache = os.path.join(d, "replay")
        tok = mktoken("valid")["token"]
        other = mktoken("valid-ps256")["token"]
        got, _ = check([tok], replay=cache)
        t.eq(got[0][0], "verified", "first presentation verified")
        got, _ = check([tok, other], now=NOW + 5, replay=cache)
        t.eq([g[0] for g in got], ["replayed", "verified"],
             "after a restart: the same token is replayed, another one verifies")
        got, _ = check([tok], now=NOW + 10, replay=cache)
        t.eq(got[0][0], "replayed", "and still after a second restart")
        # Once the token itself expired the id may be forgotten: expired wins.
        got, _ = check([tok], now=NOW + 3600, replay=cache)
        t.eq(got[0][0], "expired", "an old token is expired, not replayed")
        with open(cache) as f:
            t.ok(f.read().startswith("vitaled-replay 1\n"), "cache file written")


def test_replay_corrupt(t):
    real = int(time.time())
    with tempfile.TemporaryDirectory() as d:
        cache = os.path.join(d, "replay")
        before = mktoken("valid", now=real - 20)["token"]
        for garbage in (b"\x00\xff garbage\n", b"vitaled-replay 1\nfloor x\n",
                        b"vitaled-replay 1\nfloor 0\nzz 12\n", b"",
                        b"vitaled-replay 1\nfloor 0\n" + b"ab" * 5000 + b" 1\n"):
            with open(cache, "wb") as f:
                f.write(garbage)
            got, notes = check([before], now=real - 10, replay=cache)
            t.ok(any("corrupt" in n for n in notes), "corrupt cache %r reported" % garbage[:20])
            t.eq(got[0][0], "replayed",
                 "a token issued before the rebuild is refused (%s)" % got[0][1])
        after = mktoken("valid", now=real + 5)["token"]
        got, notes = check([after], now=real + 10, replay=cache)
        t.eq((got[0][0], notes), ("verified", []),
             "the rebuilt cache loads cleanly and accepts a newer token")


def main():
    t = Tap()
    if not os.access(CHECK, os.X_OK):
        t.bail("%s not built" % CHECK)
    t.run(test_variants)
    t.run(test_replay_restart)
    t.run(test_replay_corrupt)
    t.done()


if __name__ == "__main__":
    main()
