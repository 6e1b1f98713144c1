#!/usr/bin/python3
"""Shared desk scanner benchmark (issue 15), run from a build tree (bench/run
"share").

    bench-share.py [SCANS]

Serial pass-through: a drug-box code written into a pty scanner reaches
the program reading the daemon's pass-through port (scanner pty -> vitaled
-> pass-through pty).  Floor, in the same run and interleaved code by code
so that both see the same load: the same code read by a plain reader of
the device, as the pharmacy software did before vitaled held the port (a
raw pty written on one side and read on the other).  Time is from the
write of the line's last byte to the read of it, the median over SCANS
codes sent at a person's pace.  Goal: ratio <= 1.2.  When socat is
installed, a second floor: socat relaying the same kind of device to a pty
of its own (any relay's two hops and one more process wake-up), so the
ratio to it is vitaled's own part.

The keyboard wedge's pass-through (grabbed evdev -> vitaled -> /dev/uinput)
is not measured: no /dev/uinput exists on the machines this runs on, and
under umockdev every write() to the emulated node is a socket round trip
to the test process (~150 us), which would be what a ratio measured.
Prints `bench-result:` JSON lines for bench/run.
"""
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tty

SRC = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("top_builddir") or os.getcwd()
sys.path.insert(0, os.path.join(SRC, "tests", "lib"))
os.environ.setdefault("top_srcdir", SRC)
os.environ.setdefault("top_builddir", BUILD)
from vtest import daemon as vdaemon  # noqa: E402
from vtest import qr, share  # noqa: E402
from vtest.bench import ratio_result  # noqa: E402

PACE = 0.3  # s between codes: a person's pace (the source throttles faster floods)


def read_line(fd, line, timeout=10):
    """Read fd until it has given len(line) bytes; the time it did."""
    got = b""
    while len(got) < len(line):
        if not select.select([fd], [], [], timeout)[0]:
            raise TimeoutError("only %r of %r" % (got, line))
        got += os.read(fd, 4096)
    at = time.perf_counter()
    if got != line:
        raise ValueError("%r is not %r" % (got, line))
    return at


def write_line(fd, line):
    os.write(fd, line)
    return time.perf_counter()


def bench_serial(tmp, scans):
    run = os.path.join(tmp, "run")
    os.mkdir(run)
    link = os.path.join(tmp, "scanner0")
    conf = os.path.join(tmp, "vitaled.conf")
    with open(conf, "w") as f:
        f.write("[General]\nStateDirectory = %s\n" % tmp +
                qr.daemon_conf("serial", "Devices = %s\nPassThrough = pty\n"
                               "PassThroughDirectory = %s\nPassThroughGroup =\n"
                               % (link, run)).replace("[General]\n", "", 1))
    # the plain reader's device, and the scanner the daemon holds
    plain_w, plain_r = os.openpty()
    tty.setraw(plain_r)
    master, slave = os.openpty()
    os.symlink(os.ttyname(slave), link)
    os.close(slave)
    relay = None
    if shutil.which("socat"):
        relay_w, relay_s = os.openpty()
        relay_link = os.path.join(tmp, "socat-port")
        relay = subprocess.Popen(["socat", "-u", "OPEN:%s,rawer" % os.ttyname(relay_s),
                                  "PTY,link=%s,rawer" % relay_link], stdin=subprocess.DEVNULL)
    bus = vdaemon.SessionBus()
    proc = subprocess.Popen([vdaemon.vitaled_path(), "--config", conf, "--session", "-v"],
                            env=dict(os.environ, **bus.env()), stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    ours, floor, relayed = [], [], []
    try:
        if relay:
            deadline = time.monotonic() + 30
            while not os.path.exists(relay_link) and time.monotonic() < deadline:
                time.sleep(0.05)
            rl = os.open(relay_link, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        buf = b""
        deadline = time.monotonic() + 30
        while b"pass-through " not in buf or not buf.endswith(b"\n"):
            if time.monotonic() > deadline or not select.select([proc.stderr], [], [], 1)[0]:
                if time.monotonic() > deadline:
                    raise TimeoutError(buf[-2000:])
                continue
            buf += os.read(proc.stderr.fileno(), 65536)
        port = buf.split(b"pass-through ", 1)[1].split(b"\n", 1)[0].decode()
        pt = os.open(port, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        for n in range(scans):
            line = share.cip(n).encode() + b"\r\n"
            time.sleep(PACE / 3)
            t0 = write_line(plain_w, line)
            floor.append((read_line(plain_r, line) - t0) * 1e6)
            # each after the same quiet time: a process woken from a long
            # sleep answers later than one that just ran
            time.sleep(PACE / 3)
            t0 = write_line(master, line)
            ours.append((read_line(pt, line) - t0) * 1e6)
            if relay:
                time.sleep(PACE / 3)
                t0 = write_line(relay_w, line)
                relayed.append((read_line(rl, line) - t0) * 1e6)
        os.close(pt)
    finally:
        proc.terminate()
        proc.wait(20)
        if relay:
            relay.terminate()
            relay.wait(20)
            os.close(relay_w)
            os.close(relay_s)
        os.close(master)
        os.close(plain_w)
        os.close(plain_r)
        bus.close()
    med, fmed = statistics.median(ours), statistics.median(floor)
    print("serial pass-through: last byte written to line read median %.0f us over %d codes "
          "(p90 %.0f); plain reader of the device %.0f us (p90 %.0f)"
          % (med, len(ours), sorted(ours)[len(ours) * 9 // 10], fmed,
             sorted(floor)[len(floor) * 9 // 10]))
    ratio_result("serial scan -> pass-through line vs plain reader of the device", med, fmed, "us",
           "<= 1.2", lambda x: x <= 1.2)
    if relayed:
        rmed = statistics.median(relayed)
        print("socat relaying a device to a pty: %.0f us (p90 %.0f)"
              % (rmed, sorted(relayed)[len(relayed) * 9 // 10]))
        ratio_result("serial scan -> pass-through line vs socat relaying the device to a pty", med,
               rmed, "us", "", lambda x: None)


def main():
    scans = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    with tempfile.TemporaryDirectory(prefix="bench-share-") as tmp:
        bench_serial(tmp, scans)


if __name__ == "__main__":
    main()
