#!/usr/bin/python3
"""Keyboard-wedge QR scanners end to end, on umockdev evdev devices.

Three fake keyboards (a umockdev testbed: sysfs device, EVIOCGNAME record,
scripted key events) type token texts into the daemon, which grabs them:
one types in US layout and is configured "us", one types in French AZERTY
and is configured "fr", one types AZERTY but is configured "us" (the
classic misconfiguration: the text comes out garbled, is no token and
makes no read).  The streams also carry an endless code, a code with keys the
layout does not know, and Ctrl sequences.

The key streams are made here from the layouts as printed on the keys,
independently of the daemon's tables.
"""
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest import daemon as vdaemon  # noqa: E402
from vtest import qr  # noqa: E402
from vtest.tap import Tap  # noqa: E402
from vtest.wedge import FR, US, Stream, add_device  # noqa: E402


def main():
    t = Tap()
    if not os.access(vdaemon.vitaled_path(), os.X_OK):
        t.bail("daemon/vitaled not built")
    tmp = tempfile.mkdtemp(prefix="vitaled-wedge-")
    tokens = {}
    # device number -> (layout typed, layout configured, tokens typed)
    plan = {5: ("us", "us"), 6: ("fr", "fr"), 7: ("fr", "us")}
    bed = qr.Testbed()
    for n, (typed, _) in plan.items():
        dev = add_device(bed, tmp, n, "QR Wedge %s" % typed.upper())
        s = Stream(US if typed == "us" else FR)
        valid, _ = qr.token("valid")
        expired, _ = qr.token("expired")
        after, _ = qr.token("valid")
        tokens[n] = (valid[0], expired[0], after[0])
        s.type(valid[0])
        s.enter()
        s.type(expired[0])
        s.enter()
        s.tap("KEY_C", ctrl=True)        # a control sequence types nothing
        s.type("A" * 6000)               # endless code, then Enter
        s.enter()
        s.tap("KEY_F5")                  # a key with no character
        s.type("VT1:%d" % n)         # (distinct per device: no folding)
        s.enter()
        s.type(after[0])
        s.enter()
        s.load(bed, dev, os.path.join(tmp, "event%d.script" % n))
    devices = ", ".join("/dev/input/event%d=%s" % (n, conf) for n, (_, conf) in plan.items())
    bus, d = qr.start_daemon("wedge", "Devices = %s\nLayout = us" % devices, env=bed.env())
    with qr.scenario(t, "wedge", bus, d):
        for n, (typed, conf) in plan.items():
            rid = "wedge-/dev/input/event%d" % n
            m = d.wait_log(r"reader %s: added \(qr-keyboard, \"QR Wedge %s\"\)"
                           % (re.escape(rid), typed.upper()))
            t.ok(m, "event%d: grabbed as a qr-keyboard reader named from EVIOCGNAME" % n)
            pos = 0
            verdicts = []
            if typed == conf:
                for _ in range(3):
                    v, _, pos = qr.wait_verdict(d, rid, pos)
                    verdicts.append(v)
            else:
                # garbled, no code starts with "VTn:": four codes of somebody else
                m = d.wait_log(r"reader %s: a code of \d+ bytes that is not a Vitale token "
                               r"\(4 so far\)" % re.escape(rid))
                t.ok(m, "event%d: AZERTY typing read as US makes no token: 4 other codes" % n)
                verdicts = re.findall(r"reader %s: card \d+: phone-qr, ([a-z-]+) " % re.escape(rid),
                                      d.log())
            log = d.log()
            if typed == conf:
                t.eq(verdicts[:2], ["verified", "expired"],
                     "event%d: typed in %s, read as %s: valid and expired tokens get "
                     "their verdicts" % (n, typed, conf))
                t.ok(re.search(r"reader %s: code longer than \d+ bytes dropped" % re.escape(rid),
                               log), "event%d: an endless code is dropped with a log line" % n)
                t.ok(re.search(r"reader %s: 1 keys have no character in the '%s' layout"
                               % (re.escape(rid), conf), log),
                     "event%d: a key with no character is reported" % n)
                t.eq(verdicts[2], "malformed",
                     "event%d: the code with the unknown key gets a verdict" % n)
                v, _, pos = qr.wait_verdict(d, rid, pos)
                t.eq(v, "verified", "event%d: the code after them is verified" % n)
                t.ok(qr.card_on_bus(bus, rid, "verified"),
                     "event%d: a client on the private system bus sees the verified Card1" % n)
            else:
                t.eq(verdicts, [], "event%d: AZERTY typing read as US never makes a read" % n)
                t.ok(re.search(r"reader %s: \d+ keys have no character in the 'us' layout"
                               % re.escape(rid), log),
                     "event%d: the wrong layout shows in the log" % n)
        log = d.log()
        leaked = [tok for toks in tokens.values() for tok in toks if tok[4:40] in log]
        t.ok(not leaked, "no token text in the log")
    t.done()


if __name__ == "__main__":
    qr.run_exiting(main)
