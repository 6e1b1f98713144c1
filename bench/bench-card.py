#!/usr/bin/python3
"""Card read: insertion to verified result in vitaled, against its floor.

    bench/bench-card.py [INSERTIONS]      (default 50; run by bench/run)

One private pcscd with the two vpcd readers.  vitaled reads reader 0 and
ignores reader 1; bench/bench-card-floor waits on reader 1.  The same chip
(tests/pcsc/cycler.py, the reference card of tests/emu, built once: the
same bytes in both) is plugged in and out of each reader in turn, so both
sides see the same pcscd, the same emulator and the same machine load.

  vitaled: the span from pcscd reporting the card (the monitor's wake-up)
           to the verified result on the loop, from its debug line
           "result ready N us after pcscd reported the card";
  floor:   the same span for a minimal C program replaying vitaled's own
           APDU sequence (recorded by the cycler), plus the median cost of
           the crypto a verifier cannot skip (CMS + hashes + ECDSA).

Prints the APDU count of each profile, both medians and the ratio (goal:
vitaled / floor <= 1.15), and bench-result lines for bench/run.
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile

SRCDIR = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILDDIR = os.environ.get("top_builddir") or os.getcwd()
os.environ.setdefault("top_srcdir", SRCDIR)
os.environ.setdefault("top_builddir", BUILDDIR)
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))
from vtest.cardrig import Rig, Cycler  # noqa: E402
from vtest.bench import result  # noqa: E402
from vtest import pki  # noqa: E402

GOAL = 1.15
WARMUP = 5


def apdu_counts(rig):
    counts = {}
    for profile, name in (("card", "card"), ("phone", "phone"), ("legacy", "legacy"),
                          ("iso7816", "unsupported")):
        at = rig.mark()
        card = rig.insert(0, profile=profile)
        v = rig.verdict(0, at, timeout=60)
        counts[name] = (v["apdus"], v["status"])
        rig.remove(0, card)
    return counts


def daemon_read(rig, cyc):
    rid = re.escape(rig.ids[0])
    at = rig.mark()
    cyc.cmd("in")
    m = rig.wait(r"reader %s: result ready (\d+) us after pcscd reported the card" % rid, at, 60)
    v = rig.verdict(0, at)
    if v["status"] != "verified":
        raise RuntimeError("vitaled read: %s (%s)" % (v["status"], v["reason"]))
    cyc.cmd("out")
    rig.wait(r"reader %s: card %d removed" % (rid, v["card"]), at, 60)
    return int(m.group(1)), v["apdus"]


def floor_read(floor, cyc):
    cyc.cmd("in")
    line = floor.stdout.readline().split()
    if not line or line[0] != "replay_us":
        raise RuntimeError("bench-card-floor: %r" % line)
    cyc.cmd("out")
    if floor.stdout.readline().strip() != "gone":
        raise RuntimeError("bench-card-floor did not see the card go")
    return int(line[1])


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    floor_bin = os.path.join(BUILDDIR, "bench", "bench-card-floor")
    if not os.access(floor_bin, os.X_OK):
        sys.exit("%s not built (make bench/bench-card-floor)" % floor_bin)
    work = tempfile.mkdtemp(prefix="bench-card-")
    apdus = os.path.join(work, "apdus.txt")
    # One chip image for both readers: the floor replays the APDUs of
    # vitaled's reads, which fit only the same bytes (two builds differ:
    # an ECDSA signature is 70 to 72 bytes of DER, and EF.SOD with it).
    chip = os.path.join(work, "chip")
    subprocess.run(["/usr/bin/python3", os.path.join(SRCDIR, "tests", "emu", "openprofile.py"),
                    "--pki", pki.pki_dir(), "--out", chip], check=True)
    with Rig(conf="[pcsc]\nIgnoreReaders = PCD 00 01\n", readers=(0,)) as rig:
        counts = apdu_counts(rig)
        print("APDUs per read: " + ", ".join("%s %d (%s)" % (k, c, s)
                                             for k, (c, s) in counts.items()), flush=True)
        ours, theirs = Cycler(rig, 0, image=chip), Cycler(rig, 1, image=chip)
        try:
            for _ in range(WARMUP):
                daemon_read(rig, ours)
            ours.cmd("dump " + apdus)
            floor = subprocess.Popen([floor_bin, rig.pcsc.readers[1], apdus, pki.trust_dir(),
                                      str(n + WARMUP)], env=rig.pcsc.env(),
                                     stdout=subprocess.PIPE, text=True)
            if floor.stdout.readline().strip() != "ready":
                raise RuntimeError("bench-card-floor did not start")
            for _ in range(WARMUP):
                floor_read(floor, theirs)
            d, f = [], []
            for _ in range(n):      # interleaved: same load on both sides
                us, count = daemon_read(rig, ours)
                d.append(us)
                f.append(floor_read(floor, theirs))
            out = dict(line.split() for line in floor.stdout.read().splitlines() if line)
            floor.wait()
        finally:
            ours.close()
            theirs.close()
    if out.get("crypto_ok") != "1":
        sys.exit("bench-card-floor: its own verification of the card failed")
    crypto = int(out["crypto_us"])
    dm, fm = statistics.median(d), statistics.median(f) + crypto
    ratio = dm / fm
    print("card read, %d insertions, %d APDUs each" % (n, count))
    print("vitaled: insertion to verified result, median %.0f us" % dm)
    print("floor: APDU replay median %.0f us + crypto median %d us = %.0f us"
          % (statistics.median(f), crypto, fm))
    print("ratio vitaled / floor: %.3f (goal <= %.2f)" % (ratio, GOAL), flush=True)
    result("card read: insertion to verified result vs APDU replay + crypto floor",
           "%.0f" % dm, "%.0f" % fm, "%.3f" % ratio, "us", "<= %.2f" % GOAL,
           ratio <= GOAL, "%d APDUs, median of %d" % (count, n))
    for k, (c, s) in counts.items():
        result("APDUs per read: %s (%s)" % (k, s), c, "", "", "APDUs", "", None)


if __name__ == "__main__":
    main()
