#!/usr/bin/python3
"""Serial QR scanner end to end: a pty pair stands in for a CDC-ACM scanner.

The daemon watches a directory for scanner*; the test creates the pty
link there (plug), types codes into the master side, closes it (unplug)
and makes a new one (replug), and checks the verdict the daemon gives
each scan — valid, folded duplicate, replayed, expired, forged — that a
code that is not ours is no read, and that hostile input (endless line,
binary garbage, a partial code then silence, a 10 MB burst, a disconnect
mid-code) gets a log line and leaves the source working, with bounded
memory.
"""
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest import daemon as vdaemon  # noqa: E402
from vtest import qr, soak  # noqa: E402
from vtest.proc import rss_kib  # noqa: E402
from vtest.tap import Tap  # noqa: E402


GAP = 1500  # ms: [serial] CodeGap (more than the pause before the unplug below)


class Scanner(soak.Scanner):
    """soak's pty scanner, which may also send any bytes (not only codes)."""

    def type(self, data):
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view):]


def main():
    t = Tap()
    if not os.access(vdaemon.vitaled_path(), os.X_OK):
        t.bail("daemon/vitaled not built")
    tmp = tempfile.mkdtemp(prefix="vitaled-serial-")
    path = os.path.join(tmp, "scanner0")
    rid = "serial-" + path
    bus, d = qr.start_daemon("serial", "Devices = %s/scanner*\nCodeGap = %d" % (tmp, GAP))
    sc = None
    with qr.scenario(t, "serial scanner", bus, d):
        sc = Scanner(path)
        m = d.wait_log(r"reader %s: added \(qr-serial" % rid)
        t.ok(m, "a scanner linked after start is found (inotify) as a qr-serial reader")
        pos = d.log_size()

        texts, _ = qr.token("valid")
        sc.scan(texts[0])
        verdict, _, pos = qr.wait_verdict(d, rid, pos)
        t.eq(verdict, "verified", "a valid token scanned on the serial line is verified")
        card = qr.card_on_bus(bus, rid, "verified")
        t.ok(card and card.get("FormFactor") == "phone-qr",
             "a client on the private system bus sees the Card1 object, verified", card)

        sc.scan(texts[0])
        m = d.wait_log(r"reader %s: same code scanned again" % rid, 30, pos)
        t.ok(m, "the same code again at once is folded into the first read")
        pos = d.log_size()

        pair, _ = qr.token("replayed")
        sc.scan(pair[0])
        v1, _, pos = qr.wait_verdict(d, rid, pos)
        sc.scan(pair[1])
        v2, _, pos = qr.wait_verdict(d, rid, pos)
        t.ok((v1, v2) == ("verified", "replayed"),
             "a second presentation with the same id is replayed", (v1, v2))

        for variant, want in (("expired", "expired"), ("wrong-prefix", "unsupported"),
                              ("wrong-holder", "forged")):
            text, _ = qr.token(variant)
            sc.scan(text[0])
            verdict, last, pos = qr.wait_verdict(d, rid, pos)
            t.eq(verdict, want, "%s token: %s" % (variant, want))

        # LF-only and CR-only line ends work too; a QR that is not ours and
        # binary garbage are somebody else's codes: counted, not read.
        sc.type(b"https://example.org/not-a-health-card\n")
        m = d.wait_log(r"reader %s: a code of 37 bytes that is not a Vitale token" % rid, 30, pos)
        t.ok(m, "a QR code that is not ours is not a read (LF-ended)")
        sc.type(bytes([0, 1, 2, 0xff, 0xfe, 0x80]) + b"VT1:\x00\x9f\r")
        m = d.wait_log(r"reader %s: a code of 12 bytes that is not a Vitale token" % rid, 30, pos)
        t.ok(m, "binary garbage on a CR-ended line is not a read either")
        pos = d.log_size()

        # A code cut short, then silence: the next scan must not be glued
        # to it (CodeGap).  Before the gap, a code sent in two bursts is one.
        first, _ = qr.token("valid")
        second, _ = qr.token("valid")
        sc.type(first[0][:100].encode())
        m = d.wait_log(r"reader %s: (\d+) ms of silence in the middle of a code; "
                       r"partial code dropped" % rid, 30, pos)
        t.ok(m and int(m.group(1)) >= GAP,
             "a partial code followed by silence is dropped after CodeGap (%s ms)"
             % (m and m.group(1)))
        half = len(second[0]) // 2
        sc.type(second[0][:half].encode())
        time.sleep(0.05)
        sc.type(second[0][half:].encode() + b"\r\n")
        verdict, card, pos = qr.wait_verdict(d, rid, pos)
        t.ok(verdict == "verified" and card == last + 1,
             "the next scan, sent in two bursts 50 ms apart, is read whole and verified",
             (verdict, card, last))
        last = card

        sc.type(b"A" * 20000)
        d.wait_log(r"reader %s: code longer than \d+ bytes dropped" % rid, 30, pos)
        # the rest of the endless line, still within the gap: dropped too
        text, _ = qr.token("valid")
        sc.type(b"A" * 100 + text[0].encode() + b"\r\n")
        text, _ = qr.token("valid")
        sc.scan(text[0])
        verdict, card, pos = qr.wait_verdict(d, rid, pos)
        t.ok(verdict == "verified" and card == last + 1,
             "an endless line is dropped whole with a log line; the line after it is read",
             (verdict, card, last))

        rss0 = rss_kib(d.proc.pid)
        burst_start = d.log_size()
        # 10 MB of random bytes (about 80000 "lines"), ending a line
        sc.type(os.urandom(10 * 1024 * 1024) + b"\r\n")
        # the throttle lets a few lines a second through while the rest is
        # dropped; once the pty is drained, wait for it to refill
        time.sleep(2.5)
        pos = d.log_size()
        text, _ = qr.token("valid")
        sc.scan(text[0])
        verdict, _, pos = qr.wait_verdict(d, rid, pos, timeout=120)
        burst_log = d.log()[burst_start:pos]
        dropped = sum(int(n) for n in re.findall(r"reader %s: (\d+) codes were dropped"
                                                  % re.escape(rid), burst_log))
        t.ok("codes arriving faster than anyone scans" in burst_log and dropped > 10000,
             "the burst's lines were throttled, with a log line (%d dropped)" % dropped)
        grown = rss_kib(d.proc.pid) - rss0
        t.eq(verdict, "verified", "after a 10 MB burst the scanner still reads a valid code")
        t.ok(grown < 4096, "memory stays bounded over the burst (RSS grew %d KiB)" % grown)
        t.ok(d.proc.poll() is None, "the daemon is still running")

        half = text[0][: len(text[0]) // 2]
        text, _ = qr.token("valid")
        sc.type(text[0][: len(text[0]) // 2].encode())
        time.sleep(0.5)  # let the daemon read the half code before the hang-up
        sc.unplug()
        m = d.wait_log(r"reader %s: scanner disconnected in the middle of a code; "
                       r"partial code dropped" % rid, 30, pos)
        t.ok(m, "a disconnect mid-code drops the partial code with a log line")
        m = d.wait_log(r"reader %s: removed" % rid, 30, pos)
        t.ok(m, "the unplugged scanner's reader is removed")
        pos = d.log_size()
        t.ok(half not in d.log(), "no token text in the log")

        sc = Scanner(path)
        m = d.wait_log(r"reader %s: added \(qr-serial" % rid, 30, pos)
        t.ok(m, "replugged: the same stable reader id comes back")
        text, _ = qr.token("valid")
        sc.scan(text[0])
        verdict, _, pos = qr.wait_verdict(d, rid, pos)
        t.eq(verdict, "verified", "the replugged scanner reads a valid code")
    if sc:
        sc.unplug()
    t.done()


if __name__ == "__main__":
    main()
