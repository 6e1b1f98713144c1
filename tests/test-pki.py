#!/usr/bin/python3
"""The test PKI cache (tests/pki/mkpki.sh, vtest.pki) under concurrent runs.

Test runs share one cached PKI per mkpki.sh version; several may make it at
once.  Four makers start together on an empty directory while a watcher
looks at it every few milliseconds: the directory must never be seen
without its stamp (half made), every maker must return a complete PKI
(every certificate, CRL and key parses), no temporary directory may be
left, and a later call must reuse the PKI as it is.
"""
import glob
import os
import subprocess
import sys
import tempfile
import threading
import time

SRC = os.environ.get("top_srcdir", ".")
sys.path.insert(0, os.path.join(SRC, "tests", "lib"))
from vtest.tap import Tap  # noqa: E402

MKPKI = os.path.join(SRC, "tests", "pki", "mkpki.sh")


def parses(path):
    kind = {".pem": "x509", ".crl": "crl", ".key": "pkey"}[os.path.splitext(path)[1]]
    return subprocess.run(["openssl", kind, "-noout", "-in", path],
                          capture_output=True).returncode == 0


def main():
    t = Tap()
    with tempfile.TemporaryDirectory(prefix="vtest-pki-") as tmp:
        out = os.path.join(tmp, "pki", "test")
        seen, half, done = [0], [], threading.Event()

        def watch():
            while not done.is_set():
                if os.path.isdir(out):
                    seen[0] += 1
                    if not os.path.exists(os.path.join(out, ".stamp")):
                        half.append(sorted(os.listdir(out)))
                time.sleep(0.005)
        w = threading.Thread(target=watch)
        w.start()
        makers = [subprocess.Popen(["sh", MKPKI, out], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True) for _ in range(4)]
        results = [(p.wait(600), p.stderr.read()) for p in makers]
        done.set()
        w.join()
        t.ok(all(rc == 0 for rc, _ in results), "four concurrent makers all succeed", results)
        t.ok(seen[0] > 0 and not half, "the PKI directory was never seen half made "
             "(%d looks)" % seen[0], half[:3])
        files = [f for f in glob.glob(os.path.join(out, "*", "*"))
                 if f.endswith((".pem", ".crl", ".key"))]
        bad = [f for f in files if not parses(f)]
        t.ok(len(files) >= 20 and not bad, "all %d certificates, CRLs and keys parse"
             % len(files), bad)
        t.eq(glob.glob(out + ".tmp.*"), [], "no temporary directory is left behind")
        before = os.stat(out).st_ino
        r = subprocess.run(["sh", MKPKI, out], capture_output=True, text=True)
        t.ok(r.returncode == 0 and os.stat(out).st_ino == before,
             "a later call reuses the PKI as it is", r.stderr)
    t.done()


if __name__ == "__main__":
    main()
