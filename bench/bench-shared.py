#!/usr/bin/python3
"""Another application's PC/SC transactions on vitaled's reader: their
latency while vitaled reads the card, against the same with vitaled
stopped, in the same run.

    bench/bench-shared.py [INSERTIONS]      (default 40 per block; run by bench/run)

One private pcscd, reader 0.  tests/pcsc/cycler.py plugs the reference
chip in and out; tests/pcsc/other-app.py (pyscard, its own process) is the
billing software: at each insertion it connects (shared) as soon as pcscd
reports the card and runs short transactions (SELECT and two READ
BINARYs) back to back for WINDOW_S, while vitaled reads the same card.
Blocks of insertions alternate between vitaled running and vitaled stopped
(same pcscd, emulator and machine load).  The floor is the other
application's transaction latency with vitaled stopped.

Prints p50/p95/p99/max of both, the ratio at p95 (goal <= 1.10), the
connect latency (which waits for vitaled's transaction inside pcscd) and a
bench-result line for bench/run.
"""
import os
import re
import statistics
import subprocess
import sys

SRCDIR = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILDDIR = os.environ.get("top_builddir") or os.getcwd()
os.environ.setdefault("top_srcdir", SRCDIR)
os.environ.setdefault("top_builddir", BUILDDIR)
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))
from vtest.cardrig import Rig, Cycler  # noqa: E402
from vtest.bench import result  # noqa: E402
from vtest import proc  # noqa: E402

GOAL = 1.10
WINDOW_S = 0.3      # vitaled's read (~6 ms) falls in each window's start
BLOCKS = 4          # on, off, on, off
OTHER_APP = os.path.join(SRCDIR, "tests", "pcsc", "other-app.py")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def window(rig, cyc, other, daemon_on):
    at = rig.mark() if daemon_on else 0
    other.stdin.write(("window %g\n" % WINDOW_S).encode())
    other.stdin.flush()
    cyc.cmd("in")
    answer = other.stdout.readline().decode().split()
    if not answer or answer[0] != "ok":
        raise RuntimeError("other application: %r" % answer)
    if daemon_on:
        v = rig.verdict(0, at, timeout=60)
        if v["status"] != "verified":
            raise RuntimeError("vitaled read: %s (%s)" % (v["status"], v["reason"]))
    cyc.cmd("out")
    if daemon_on:
        rig.wait(r"reader %s: card %d removed" % (re.escape(rig.ids[0]), v["card"]), at, 60)
    else:
        rig.pcsc.wait(0, False)
    return int(answer[1]), [int(x) for x in answer[2:]]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    lat = {True: [], False: []}
    conn = {True: [], False: []}
    with Rig(readers=(0,)) as rig:
        cyc = Cycler(rig, 0)
        other = subprocess.Popen(["/usr/bin/python3", OTHER_APP, rig.pcsc.readers[0]],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 env=rig.pcsc.env(), preexec_fn=proc.pdeathsig)
        try:
            for block in range(BLOCKS):
                on = block % 2 == 0
                if on and (not rig.daemon or rig.daemon.proc.poll() is not None):
                    rig.start_vitaled()
                elif not on:
                    rig.finish()
                window(rig, cyc, other, on)     # warm-up
                for _ in range(n):
                    c, ts = window(rig, cyc, other, on)
                    conn[on].append(c)
                    lat[on].extend(ts)
        finally:
            cyc.close()
            proc.kill(other)
    on, off = lat[True], lat[False]
    ratio = pct(on, 95) / pct(off, 95)
    print("another application's transactions (SELECT + 2 READ BINARY), %d-ms windows from "
          "each insertion, %d insertions each way" % (WINDOW_S * 1000, n * BLOCKS // 2))
    for name, xs in (("vitaled reading", on), ("vitaled stopped", off)):
        print("%s: %d transactions, p50 %d us, p95 %d us, p99 %d us, max %d us"
              % (name, len(xs), pct(xs, 50), pct(xs, 95), pct(xs, 99), max(xs)))
    print("connect at insertion: median %d us (vitaled reading) vs %d us (stopped), max %d vs %d"
          % (statistics.median(conn[True]), statistics.median(conn[False]),
             max(conn[True]), max(conn[False])))
    print("ratio at p95: %.3f (goal <= %.2f)" % (ratio, GOAL), flush=True)
    result("another application's transaction latency beside vitaled's reads vs vitaled "
           "stopped (p95)", "%d" % pct(on, 95), "%d" % pct(off, 95), "%.3f" % ratio, "us",
           "<= %.2f" % GOAL, ratio <= GOAL,
           "p99 %d/%d us, max %d/%d us; %d/%d transactions"
           % (pct(on, 99), pct(off, 99), max(on), max(off), len(on), len(off)))


if __name__ == "__main__":
    main()
