#!/usr/bin/python3
"""A keyboard-wedge scanner shared with the practice software (issue 15).

No /dev/uinput exists on the test machines: the testbed has one, whose
ioctls and writes are served by a handler here (UMockdev.IoctlBase), so
the real daemon does its real UI_* ioctls and write()s.  A umockdev evdev
scanner types, in US layout (configured us) and then in French AZERTY
(configured fr): a token, drug-box codes, a link, a code with a Ctrl
sequence and a key with no character, an expired token, a code cut short
and 1.5 s of silence, a code, END.  The
handler decodes the struct input_events written and checks they are
exactly the key events of every code that is not a token, each followed
by a SYN_REPORT, in order, with the Enter — and no key of a token; the
virtual keyboard is named for the scanner and destroyed when the daemon
stops.  PassThrough = none types nothing, for the group or for one
scanner (Devices = PATH=fr:none).
"""
import errno
import os
import re
import struct
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest import daemon as vdaemon  # noqa: E402
from vtest import qr  # noqa: E402
from vtest.tap import Tap  # noqa: E402
from vtest.wedge import FR, US, Stream, add_device  # noqa: E402


def _ioc(d, nr, size):
    return (d << 30) | (size << 16) | (ord("U") << 8) | nr


SETUP_FMT = "=HHHH80sI"                      # struct uinput_setup
UI_DEV_CREATE = _ioc(0, 1, 0)
UI_DEV_DESTROY = _ioc(0, 2, 0)
UI_DEV_SETUP = _ioc(1, 3, struct.calcsize(SETUP_FMT))
UI_SET_EVBIT = _ioc(1, 100, 4)
UI_SET_KEYBIT = _ioc(1, 101, 4)
EV_FMT = "=qqHHi"                            # struct input_event, 64-bit time
EV_SIZE = struct.calcsize(EV_FMT)
EV_SYN, EV_KEY, SYN_REPORT = 0, 1, 0
UINPUT = ("P: /devices/virtual/misc/uinput\nN: uinput\nE: DEVNAME=/dev/uinput\n"
          "E: SUBSYSTEM=misc\nE: MAJOR=10\nE: MINOR=223\nA: dev=10:223\n\n")


def uinput_handler():
    from gi.repository import UMockdev

    class Uinput(UMockdev.IoctlBase):
        """/dev/uinput as the kernel answers it; the events written are kept.
        Runs on umockdev's thread."""

        def __init__(self):
            super().__init__()
            self.cond = threading.Condition()
            self.evbits, self.keybits = set(), set()
            self.name = None
            self.bus = None
            self.created = self.destroyed = False
            self.raw = b""

        def do_handle_ioctl(self, client):
            req, arg = client.get_request(), client.get_arg()
            with self.cond:
                if req in (UI_SET_EVBIT, UI_SET_KEYBIT):
                    val = struct.unpack("=Q", arg.retrieve())[0]
                    (self.evbits if req == UI_SET_EVBIT else self.keybits).add(val)
                elif req == UI_DEV_SETUP:
                    bus, _, _, _, name, _ = struct.unpack(
                        SETUP_FMT, arg.resolve(0, struct.calcsize(SETUP_FMT)).retrieve())
                    self.bus, self.name = bus, name.split(b"\0", 1)[0].decode()
                elif req == UI_DEV_CREATE and self.name is not None:
                    self.created = True
                elif req == UI_DEV_DESTROY:
                    self.destroyed = True
                else:
                    client.complete(-1, errno.ENOTTY)
                    return True
                self.cond.notify_all()
            client.complete(0, 0)
            return True

        def do_handle_write(self, client):
            data = client.get_arg().retrieve()
            with self.cond:
                self.raw += data
                self.cond.notify_all()
            client.complete(len(data), 0)
            return True

        def events(self):
            with self.cond:
                raw = self.raw
            return [struct.unpack_from(EV_FMT, raw, o)[2:]
                    for o in range(0, len(raw) - len(raw) % EV_SIZE, EV_SIZE)]

        def wait(self, pred, timeout=60):
            with self.cond:
                return self.cond.wait_for(pred, timeout)

    return Uinput()


def plan(layout):
    """(key stream, expected (type, code, value) events, tokens typed)."""
    s = Stream(layout)
    want = []
    valid, _ = qr.token("valid")
    expired, _ = qr.token("expired")

    def code(text=None, ctrl_c=False, f5=False, token=False):
        first = len(s.keys)
        if text:
            s.type(text)
        if ctrl_c:
            s.tap("KEY_C", ctrl=True)
        if f5:
            s.tap("KEY_F5")
            s.type("001")
        s.enter()
        if not token:
            for c, v in s.keys[first:]:
                want.extend([(EV_KEY, c, v), (EV_SYN, SYN_REPORT, 0)])

    code(valid[0], token=True)
    code("3400930000120")
    code("3400930000120")          # the same box twice: typed twice
    code("https://example.org/notice")
    code("3400930000137", ctrl_c=True)
    code("LOT", f5=True)
    code(expired[0], token=True)
    # a code cut short, then silence longer than CodeGap: its keys are
    # dropped with it, never typed in front of the next code
    s.type("34009300")
    s.pause(1.5)
    code("3400930000144")
    code("END")
    return s, want, (valid[0], expired[0])


def run(t, layout_name, pass_through="keyboard", per_device=False):
    """One daemon, one scanner typing in layout_name; PassThrough set for
    the group, or for the device only ("PATH=LAYOUT:none")."""
    tmp = tempfile.mkdtemp(prefix="vitaled-wedge-pass-")
    bed = qr.Testbed()
    n = 5
    dev = add_device(bed, tmp, n, "QR Wedge %s" % layout_name.upper())
    uinput = uinput_handler()
    bed.add(UINPUT)
    bed.tb.attach_ioctl("/dev/uinput", uinput)
    stream, want, tokens = plan(US if layout_name == "us" else FR)
    stream.load(bed, dev, os.path.join(tmp, "event%d.script" % n))
    rid = "wedge-" + dev
    if per_device:
        group = "Devices = %s=%s:%s" % (dev, layout_name, pass_through)
    else:
        group = "Devices = %s=%s\nPassThrough = %s" % (dev, layout_name, pass_through)
    bus, d = qr.start_daemon("wedge", group, env=bed.env())
    tag = "%s, %s" % (layout_name, "=%s:%s" % (layout_name, pass_through) if per_device
                      else "PassThrough=" + pass_through)
    with qr.scenario(t, "wedge pass-through " + tag, bus, d):
        pos = 0
        verdicts = []
        for _ in tokens:
            v, _, pos = qr.wait_verdict(d, rid, pos)
            verdicts.append(v)
        t.eq(verdicts, ["verified", "expired"], "%s: the tokens were read by the daemon" % tag)
        m = d.wait_log(r"reader %s: a code of 3 bytes that is not a Vitale token \(7 so far\)"
                       % rid, 30, pos)
        t.ok(m, "%s: the seven other codes were counted" % tag)
        t.ok(re.search(r"reader %s: \d+ ms of silence in the middle of a code; partial code "
                       r"dropped" % re.escape(rid), d.log()),
             "%s: the code cut short was dropped after CodeGap" % tag)
        if pass_through == "none":
            t.ok(not uinput.created and uinput.raw == b"",
                 "%s: no virtual keyboard, nothing typed" % tag)
            return
        uinput.wait(lambda: len(uinput.raw) >= len(want) * EV_SIZE)
        t.eq(uinput.name, "vitaled pass-through: QR Wedge %s" % layout_name.upper(),
             "%s: the virtual keyboard is named for the scanner" % tag)
        t.ok(uinput.created and uinput.evbits == {EV_KEY, EV_SYN} and
             {c for e, c, _ in want if e == EV_KEY} <= uinput.keybits,
             "%s: created with EV_KEY and the keys typed" % tag,
             (uinput.created, uinput.evbits, sorted(uinput.keybits)[:5], len(uinput.keybits)))
        got = uinput.events()
        t.eq(len(got), len(want), "%s: %d events typed" % (tag, len(want)))
        t.ok(got == want, "%s: exactly the key events of every code that is not a token, "
             "each with its SYN_REPORT, in order, Enter included" % tag,
             next(((i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w), None))
    t.ok(uinput.destroyed, "%s: the virtual keyboard is destroyed when the daemon stops" % tag)


def main():
    qr.under_umockdev_wrapper()
    t = Tap()
    if not os.access(vdaemon.vitaled_path(), os.X_OK):
        t.bail("daemon/vitaled not built")
    run(t, "us")
    run(t, "fr")
    run(t, "us", "none")
    run(t, "fr", "none", per_device=True)
    t.done()


if __name__ == "__main__":
    qr.run_exiting(main)
