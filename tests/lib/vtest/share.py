"""A desk scanner shared with other software (issue 15): drug-box codes,
the pharmacy software's side of a serial pass-through port, and a D-Bus
client of Reader1.OtherCode, each run as a member of the client group."""
import json
import subprocess

from vtest import bus as vbus

GS = b"\x1d"    # what a scanner sends for GS1's FNC1 separators

# Open the port, say so, read until a line END.
_PORT_READER = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NOCTTY)
print("open", flush=True)
buf = b""
while not buf.endswith(b"END\r\n"):
    d = os.read(fd, 65536)
    if not d:
        break
    buf += d
print(buf.hex(), flush=True)
"""

# Every Reader1.OtherCode received, as a JSON line.
_LISTENER = r"""
import json, dbus, dbus.mainloop.glib
from gi.repository import GLib
dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
bus = dbus.SystemBus()
def got(code, symbology, path=None):
    print(json.dumps({"path": str(path), "code": bytes(code).hex(), "symbology": str(symbology)}),
          flush=True)
bus.add_signal_receiver(got, signal_name="OtherCode", dbus_interface="org.vitaled.Reader1",
                        path_keyword="path")
print("listening", flush=True)
GLib.MainLoop().run()
"""


def cip13(body12):
    """An EAN-13 with its check digit: a CIP-13 drug code if body12 is 34009..."""
    s = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body12))
    return body12 + str((10 - s % 10) % 10)


def cip(n):
    """The n-th CIP-13 code (34009 + n on 7 digits + check digit)."""
    return cip13("34009%07d" % n)


class PortReader:
    """The pharmacy software on a pass-through port, until a line END."""

    def __init__(self, bus, link):
        self.p = bus.popen_as("member", [vbus.PYTHON, "-c", _PORT_READER, link],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().strip()
        if line != "open":
            raise RuntimeError("the reader could not open %s: %s %s"
                               % (link, line, self.p.stderr.read()))

    def received(self, timeout=120):
        out, _ = self.p.communicate(timeout=timeout)
        return bytes.fromhex(out.strip())


class OtherCodeListener:
    """A client-group member listening to Reader1.OtherCode."""

    def __init__(self, bus):
        self.p = bus.popen_as("member", [vbus.PYTHON, "-c", _LISTENER],
                              stdout=subprocess.PIPE, text=True)
        if self.p.stdout.readline().strip() != "listening":
            raise RuntimeError("the D-Bus listener did not start")

    def signals(self, n):
        """The next n signals: [{"path", "code" (bytes), "symbology"}]."""
        out = []
        while len(out) < n:
            line = self.p.stdout.readline()
            if not line:
                break
            s = json.loads(line)
            out.append(dict(s, code=bytes.fromhex(s["code"])))
        return out

    def stop(self):
        self.p.terminate()
        self.p.wait()
