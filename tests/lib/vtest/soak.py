"""Shared by the reliability tests (tests/test-soak.py, tests/test-faults.py)
and bench/bench-sys.py: a pty serial scanner, fresh QR tokens made in
process, and a D-Bus client that watches and queries the daemon while a
test runs.

    sc = Scanner(dir + "/scanner0")      # the daemon globs Devices = dir/scanner*
    sc.scan(text); sc.unplug()
    for text in tokens(100): ...         # 100 distinct valid tokens (test PKI)
    w = Watcher(env, queriers=2)         # python-dbus client on env's session bus
    w.wait_ready(); ...; stats = w.finish()
        # stats: added/removed Card1 paths, final Status of each card, data
        # calls and their errors, query rounds and errors; phone reads are
        # released as soon as they are done, cards with data are read once.
"""
import json
import os
import subprocess
import sys

from . import pki as _pki

PYTHON = "/usr/bin/python3"


class Scanner:
    """A pty whose slave side is linked as path: a CDC-ACM scanner stand-in.
    The link is renamed into place so the daemon sees one complete event; its
    temporary name is hidden, or Devices = DIR/scanner* would match it too
    (the daemon then kept a second reader on the same pty under that name)."""

    def __init__(self, path):
        self.path = path
        self.master, slave = os.openpty()
        tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".new")
        os.symlink(os.ttyname(slave), tmp)
        os.close(slave)
        os.rename(tmp, path)

    def scan(self, text):
        view = memoryview(text.encode() + b"\r\n")
        while view:
            view = view[os.write(self.master, view):]

    def unplug(self):
        if self.master is not None:
            os.close(self.master)
            self.master = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def tokens(n, variant="valid", now=None, ttl=None):
    """Yield n token texts of variant, each with its own unique id (ttl:
    presentation lifetime in seconds, default mktoken's)."""
    sys.path.insert(0, os.path.join(_pki.SRCDIR, "tests", "tokens"))
    import mktoken  # noqa: E402 (needs the path above)
    pki = _pki.pki_dir()
    fam = mktoken.op.load_family(mktoken.op.family_path("reference"))
    for _ in range(n):
        texts, _info = mktoken.make(pki, fam, variant, now, ttl=ttl)
        yield texts[0]


# Runs in its own process (python-dbus needs a GLib loop); ends when its
# stdin closes and prints one JSON object.
WATCHER = r"""
import json, sys
import dbus, dbus.mainloop.glib
from gi.repository import GLib
dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
queriers = int(sys.argv[1])
NAME, OM = "org.vitaled", "org.freedesktop.DBus.ObjectManager"
CARD, PROPS = "org.vitaled.Card1", "org.freedesktop.DBus.Properties"
bus = dbus.SessionBus()
st = {"added": [], "removed": [], "status": {}, "form": {}, "data_calls": 0,
      "data_ok": 0, "data_errors": {}, "queries": 0, "query_errors": {}, "released": 0}
asked = set()
loop = GLib.MainLoop()

def err(kind, e):
    name = e.get_dbus_name() if hasattr(e, "get_dbus_name") else str(e)
    st[kind][name] = st[kind].get(name, 0) + 1

def card_props(path, props):
    if "Status" in props:
        st["status"][path] = str(props["Status"])
    if "FormFactor" in props:
        st["form"][path] = str(props["FormFactor"])
    if props.get("State") == "done" and path not in asked:
        asked.add(path)
        obj = bus.get_object(NAME, path, introspect=False)
        if props.get("HasData", False):
            st["data_calls"] += 1

            def answered(r):
                st["data_ok"] += 1
            obj.GetBeneficiaries("", dbus_interface=CARD, timeout=60,
                                 reply_handler=answered,
                                 error_handler=lambda e: err("data_errors", e))
        if st["form"].get(path, "").startswith("phone-"):
            def released():
                st["released"] += 1
            obj.Release(dbus_interface=CARD, timeout=60, reply_handler=released,
                        error_handler=lambda e: err("data_errors", e))

def added(path, ifaces):
    if CARD in ifaces:
        st["added"].append(str(path))
        card_props(str(path), ifaces[CARD])

def removed(path, ifaces):
    if CARD in ifaces:
        st["removed"].append(str(path))

def changed(iface, props, invalidated, path=None):
    if iface == CARD:
        card_props(str(path), props)

bus.add_signal_receiver(added, "InterfacesAdded", OM, NAME, "/org/vitaled")
bus.add_signal_receiver(removed, "InterfacesRemoved", OM, NAME, "/org/vitaled")
bus.add_signal_receiver(changed, "PropertiesChanged", PROPS, NAME, path_keyword="path")

def query():
    # One GetManagedObjects in flight per querier, sent again 10 ms after
    # its answer (a busy practice client, not a flood).
    def again(*a):
        st["queries"] += 1
        GLib.timeout_add(10, lambda: (query(), False)[1])
    def failed(e):
        err("query_errors", e)
        GLib.timeout_add(50, lambda: (query(), False)[1])
    bus.get_object(NAME, "/org/vitaled", introspect=False).GetManagedObjects(
        dbus_interface=OM, timeout=60, reply_handler=again, error_handler=failed)

def stop(*a):
    loop.quit()
    return False

def ready():
    # Signals are routed: the test may start (objects present now count too).
    om = bus.get_object(NAME, "/org/vitaled", introspect=False)
    st["initial"] = [str(p) for p, i in om.GetManagedObjects(dbus_interface=OM).items()
                     if CARD in i]
    for _ in range(queriers):
        query()
    print("ready", flush=True)
    return False

GLib.idle_add(ready)
GLib.io_add_watch(sys.stdin.fileno(), GLib.IO_HUP | GLib.IO_IN, stop)
loop.run()
# What is left on the bus at the end.
try:
    om = bus.get_object(NAME, "/org/vitaled", introspect=False)
    st["left"] = [str(p) for p, i in om.GetManagedObjects(dbus_interface=OM, timeout=30).items()
                  if CARD in i]
except dbus.exceptions.DBusException as e:
    st["left"] = None
    st["left_error"] = e.get_dbus_name()
print(json.dumps(st), flush=True)
"""


class Watcher:
    """The WATCHER client on the session bus of env, as the calling user."""

    def __init__(self, env, queriers=2):
        self.proc = subprocess.Popen([PYTHON, "-c", WATCHER, str(queriers)], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd="/")

    def wait_ready(self):
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            self.proc.kill()
            raise RuntimeError("D-Bus watcher did not start: %r" % line)

    def finish(self, timeout=60):
        try:
            out, _ = self.proc.communicate(b"", timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        try:
            return json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
