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
codes sent at a person's pace.  Second floor: socat relaying the same
kind of device to a pty of its own, i.e. any relay's two pty hops (each a
run of the kernel's tty worker thread) and one more process woken.  No
relay can come near the plain reader (socat itself takes 2-2.5x, see
doc/performance.md), so the plain reader's ratio is printed for what it
is and the goal, ratio <= 1.2, is against socat: vitaled's own part.
socat is a dependency (scripts/deps.sh); without it that row says so.

Keyboard wedge (`--wedge`, run by the serial part under umockdev-wrapper):
no /dev/uinput nor evdev scanner exists on the machines this runs on, so
both are umockdev's, as in tests/qr-wedge-pass.py: an emulated evdev
scanner whose pty this process writes a code's key events into (down,
SYN, up, SYN per key, Enter last), the daemon holding it (PassThrough =
keyboard), and a /dev/uinput served by a handler here that stamps the
write completing the re-emitted code.  Under umockdev every read() of an
emulated node and every write() to /dev/uinput is a socket round trip
through a thread of this process, milliseconds on a loaded machine, so two
floors, interleaved code by code: this process reading the same events
from an emulated evdev node itself (the practice software reading the
scanner, as before; umockdev's read path only), and bench/bench-wedge-relay,
a minimal relay in C (reads the node, writes the code's events to
/dev/uinput in one write() at Enter's release: umockdev's read and write
paths, no layout, no token check).  Goal: ratio to the relay <= 1.2.
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
import struct
import threading
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
    ratio_result("serial scan -> pass-through line vs plain reader of the device (one pty hop; "
                 "any relay takes two)", med, fmed, "us", "", lambda x: None)
    if not relayed:
        print("socat is not installed (scripts/deps.sh installs it): no relay floor, no goal")
        return
    rmed = statistics.median(relayed)
    print("socat relaying a device to a pty: %.0f us (p90 %.0f)"
          % (rmed, sorted(relayed)[len(relayed) * 9 // 10]))
    ratio_result("socat relaying the device to a pty vs plain reader of the device (the cost of "
                 "any relay)", rmed, fmed, "us", "", lambda x: None)
    ratio_result("serial scan -> pass-through line vs socat relaying the device to a pty", med,
                 rmed, "us", "<= 1.2", lambda x: x <= 1.2)


EV_FMT = "=qqHHi"        # struct input_event, 64-bit time
EV_KEY, KEY_ENTER = 1, 28

def key_events(text):
    """A code typed on a US keyboard, Enter last: down, SYN, up, SYN a key."""
    from evdev import ecodes
    from vtest.wedge import US
    out = b""
    for name in [US[c][0] for c in text] + ["KEY_ENTER"]:
        for value in (1, 0):
            out += struct.pack(EV_FMT, 0, 0, EV_KEY, ecodes.ecodes[name], value)
            out += struct.pack(EV_FMT, 0, 0, 0, 0, 0)
    return out


def uinput_stamper():
    """/dev/uinput answered as the kernel would; each write() stamped with
    the bytes written so far."""
    from gi.repository import UMockdev

    class Uinput(UMockdev.IoctlBase):
        def __init__(self):
            super().__init__()
            self.cond = threading.Condition()
            self.total = 0
            self.stamps = []

        def do_handle_ioctl(self, client):
            if (client.get_request() >> 8) & 0xff == ord("U"):
                client.complete(0, 0)
            else:
                client.complete(-1, 25)     # ENOTTY
            return True

        def do_handle_write(self, client):
            n = len(client.get_arg().retrieve())
            now = time.perf_counter()
            with self.cond:
                self.total += n
                self.stamps.append((now, self.total))
                self.cond.notify_all()
            client.complete(n, 0)
            return True

        def when(self, total, timeout=10):
            """When the bytes written reached total."""
            with self.cond:
                if not self.cond.wait_for(lambda: self.total >= total, timeout):
                    raise TimeoutError("uinput got %d of %d bytes" % (self.total, total))
                return next(t for t, n in self.stamps if n >= total)

    return Uinput()


def bench_wedge(tmp, scans):
    from vtest.wedge import add_device
    bed = qr.Testbed()
    ours = add_device(bed, tmp, 5, "QR Wedge bench")
    plain = add_device(bed, tmp, 6, "QR Wedge plain")
    relayed = add_device(bed, tmp, 7, "QR Wedge relay")
    uinput = uinput_stamper()
    bed.add("P: /devices/virtual/misc/uinput\nN: uinput\nE: DEVNAME=/dev/uinput\n"
            "E: SUBSYSTEM=misc\nE: MAJOR=10\nE: MINOR=223\nA: dev=10:223\n\n")
    bed.tb.attach_ioctl("/dev/uinput", uinput)
    w_ours, w_plain, w_relay = (bed.tb.get_dev_fd(d) for d in (ours, plain, relayed))
    r_plain = os.open(plain, os.O_RDONLY | os.O_NONBLOCK)
    relay = subprocess.Popen([os.path.join(BUILD, "bench", "bench-wedge-relay"), relayed],
                             stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    bus, d = qr.start_daemon("wedge", "Devices = %s=us\nPassThrough = keyboard" % ours,
                             env=bed.env())
    lat = {"ours": [], "plain": [], "relay": []}
    try:
        if relay.stdout.readline().strip() != "ready":
            raise RuntimeError("the relay did not start")
        if not d.wait_log(r"reader wedge-%s: added" % ours, 30):
            raise RuntimeError("the daemon did not add the scanner:\n" + d.log()[-2000:])
        total = 0
        for n in range(scans + 2):     # the first two warm up both paths
            ev = key_events(share.cip(n))
            time.sleep(PACE / 3)
            os.write(w_plain, ev)
            t0 = time.perf_counter()
            t1 = read_line(r_plain, ev)
            time.sleep(PACE / 3)
            os.write(w_ours, ev)
            t2 = time.perf_counter()
            total += len(ev)
            t3 = uinput.when(total)
            time.sleep(PACE / 3)
            os.write(w_relay, ev)
            t4 = time.perf_counter()
            total += len(ev)
            t5 = uinput.when(total)
            if n >= 2:
                lat["plain"].append((t1 - t0) * 1e6)
                lat["ours"].append((t3 - t2) * 1e6)
                lat["relay"].append((t5 - t4) * 1e6)
    finally:
        relay.terminate()
        relay.wait(20)
        d.stop()
        bus.stop()
        os.close(r_plain)
    med = {k: statistics.median(v) for k, v in lat.items()}
    p90 = {k: sorted(v)[len(v) * 9 // 10] for k, v in lat.items()}
    print("wedge pass-through (umockdev evdev -> vitaled -> umockdev uinput): last key event "
          "written to the code's events written to uinput, median %.0f us over %d codes (p90 "
          "%.0f); plain reader of the evdev node %.0f us (p90 %.0f); minimal relay to uinput "
          "%.0f us (p90 %.0f)" % (med["ours"], len(lat["ours"]), p90["ours"], med["plain"],
                                  p90["plain"], med["relay"], p90["relay"]))
    ratio_result("wedge scan -> keystrokes re-emitted vs plain reader of the evdev device "
                 "(umockdev's read path only)", med["ours"], med["plain"], "us", "",
                 lambda x: None)
    ratio_result("wedge scan -> keystrokes re-emitted vs a minimal relay to uinput (umockdev's "
                 "read and write paths)", med["ours"], med["relay"], "us", "<= 1.2",
                 lambda x: x <= 1.2)


def main():
    args = sys.argv[1:]
    wedge = args[:1] == ["--wedge"]
    scans = int(args[wedge]) if len(args) > wedge else 100
    with tempfile.TemporaryDirectory(prefix="bench-share-") as tmp:
        if wedge:
            qr.under_umockdev_wrapper()
            bench_wedge(tmp, scans)
            return
        bench_serial(tmp, scans)
    # the wedge's part under umockdev's preload, which this process's
    # serial timings must not pay
    if not shutil.which("umockdev-wrapper"):
        print("umockdev-wrapper is not installed (scripts/deps.sh installs it): wedge not measured")
        return
    sys.stdout.flush()
    subprocess.run([sys.executable, os.path.abspath(__file__), "--wedge", str(scans)], check=True)


if __name__ == "__main__":
    main()
