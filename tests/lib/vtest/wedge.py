"""Keyboard-wedge scanner key streams for umockdev evdev devices (umockdev
scripts of input events), made from the US and French AZERTY layouts as
printed on the keys, independently of the daemon's tables (tests/qr-wedge.py,
tests/qr-wedge-pass.py)."""
import os
import struct

from evdev import ecodes

# character -> (key name, shift) as printed on a US keyboard
US = {}
for c in "abcdefghijklmnopqrstuvwxyz":
    US[c] = ("KEY_" + c.upper(), False)
    US[c.upper()] = ("KEY_" + c.upper(), True)
for i, c in enumerate("1234567890"):
    US[c] = ("KEY_" + c, False)
US.update({" ": ("KEY_SPACE", False), "-": ("KEY_MINUS", False), "+": ("KEY_EQUAL", True),
           "*": ("KEY_8", True), "%": ("KEY_5", True), "$": ("KEY_4", True),
           ".": ("KEY_DOT", False), "/": ("KEY_SLASH", False), ":": ("KEY_SEMICOLON", True),
           "#": ("KEY_3", True), "~": ("KEY_GRAVE", True)})

# French AZERTY: key positions are named by their US label (Linux key codes)
FR = {}
for c in "bcdefghijklnoprstuvxy":
    FR[c] = ("KEY_" + c.upper(), False)
    FR[c.upper()] = ("KEY_" + c.upper(), True)
for c, pos in (("a", "Q"), ("q", "A"), ("z", "W"), ("w", "Z"), ("m", "SEMICOLON")):
    FR[c] = ("KEY_" + pos, False)
    FR[c.upper()] = ("KEY_" + pos, True)
for c in "1234567890":
    FR[c] = ("KEY_" + c, True)          # digits are shifted on AZERTY
FR.update({" ": ("KEY_SPACE", False), "-": ("KEY_6", False), "+": ("KEY_EQUAL", True),
           "*": ("KEY_BACKSLASH", False), "%": ("KEY_APOSTROPHE", True),
           "$": ("KEY_RIGHTBRACE", False), ".": ("KEY_COMMA", True), "/": ("KEY_DOT", True),
           ":": ("KEY_DOT", False)})


class Stream:
    """A umockdev script being written: key events the device node gives
    the daemon to read, each after a delay.

    Not an evemu events file: umockdev 0.19 and later convert one
    (Testbed.load_evemu_events) into a script by appending each event to a
    growing string, quadratic in the events (Debian 13's 0.19.1: 4000
    events 0.12 s, 8000 0.8 s, 16000 3.3 s) -- the ~50000 of an endless code
    took this process minutes, while the tokens already made aged into
    "expired".  A script file is read as it is played, line by line."""

    def __init__(self, layout):
        self.layout = layout
        self.lines = []
        self.keys = []      # (code, value) of every key event, in order
        self.delay = 0      # ms of silence before the next event

    def ev(self, etype, code, value):
        # struct input_event, time 0 (the kernel stamps it; the daemon
        # uses its own clock): umockdev's quoting, ^ followed by byte + 64
        # for a control byte and ^` for ^ itself
        raw = struct.pack("=qqHHi", 0, 0, etype, code, value)
        data = "".join("^" + chr(b + 64) if b < 32 else "^`" if b == 0x5e else chr(b)
                       for b in raw)
        self.lines.append("r %d %s" % (self.delay, data))
        self.delay = 0
        if etype == ecodes.EV_KEY:
            self.keys.append((code, value))

    def key(self, name, value):
        self.ev(ecodes.EV_KEY, ecodes.ecodes[name], value)
        self.ev(ecodes.EV_SYN, ecodes.SYN_REPORT, 0)

    def tap(self, name, shift=False, ctrl=False):
        mods = (["KEY_LEFTSHIFT"] if shift else []) + (["KEY_LEFTCTRL"] if ctrl else [])
        for m in mods:
            self.key(m, 1)
        self.key(name, 1)
        self.key(name, 0)
        for m in reversed(mods):
            self.key(m, 0)

    def type(self, text):
        for c in text:
            self.tap(*self.layout[c])

    def pause(self, seconds):
        """Silence between the events before and after."""
        self.delay += round(seconds * 1000)

    def enter(self):
        self.tap("KEY_ENTER")

    def load(self, bed, dev, path):
        """Written to path and played on dev of bed (a vtest.qr.Testbed) by
        a thread of umockdev's, for the daemon to read."""
        with open(path, "w", encoding="latin-1") as f:
            f.write("\n".join(self.lines) + "\n")
        bed.tb.load_script(dev, path)


def add_device(bed, tmp, n, name):
    """A umockdev evdev keyboard /dev/input/eventN in bed (a vtest.qr.Testbed)
    that EVIOCGNAME names name; returns its node."""
    bed.add("P: /devices/platform/qrwedge%d/input/input%d/event%d\nN: input/event%d\n"
            "E: DEVNAME=/dev/input/event%d\nE: MAJOR=13\nE: MINOR=%d\nE: SUBSYSTEM=input\n"
            "E: ID_INPUT=1\nE: ID_INPUT_KEYBOARD=1\nA: dev=13:%d\n\n"
            % (n, n, n, n, n, 64 + n, 64 + n))
    dev = "/dev/input/event%d" % n
    raw = (name + "\0").encode()
    ioctl = os.path.join(tmp, "event%d.ioctl" % n)
    with open(ioctl, "w") as f:
        f.write("EVIOCGNAME(0) %d %s\n" % (len(raw), (raw + b"\0" * (256 - len(raw))).hex().upper()))
    bed.tb.load_ioctl(dev, ioctl)
    return dev
