#!/usr/bin/python3
"""org.vitaled as the client libraries practice software is built on see it,
on a private system-like bus with our policy, the real daemon (as the
vitaled user) and the real pcscd with virtual cards (doc/dbus-api.md):

- what the introspection advertises is what the policy allows: every
  method of every object, called as a member and as root, is answered by
  vitaled itself (the reply's sender is its unique name), never refused by
  the bus; Properties.Set gets vitaled's PropertyReadOnly, GetMachineId the
  machine id;
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))

from vtest.tap import Tap  # noqa: E402
from vtest import pki as vpki  # noqa: E402
from vtest.bus import bus_and_pcsc  # noqa: E402
from vtest.proc import wait_for  # noqa: E402

PY = "/usr/bin/python3"
CARD1 = "org.vitaled.Card1"
DENIED = "org.freedesktop.DBus.Error.AccessDenied"

t = Tap()


def conf():
    return ("[General]\nEnablePlugins = pcsc\n[Trust]\nDirectory = %s\n"
            "[Chips]\nReadTimeout = 30000\n" % vpki.trust_dir())


def managed(bus):
    import dbus
    obj = bus.connection().get_object("org.vitaled", "/org/vitaled", introspect=False)
    return {str(p): {k: dict(v) for k, v in i.items()} for p, i in dbus.Interface(
        obj, "org.freedesktop.DBus.ObjectManager").GetManagedObjects().items()}


def wait_card_done(bus, timeout=60):
    def done():
        for p, i in managed(bus).items():
            if i.get(CARD1, {}).get("State") == "done":
                return p
        return None
    return wait_for(done, timeout)


# ---------------------------------------------------------------------------

def test_advertised(t, bus, h, d):
    """Every advertised method is answered by vitaled, for member and root."""
    h.insert(0, "card", family="reference")
    card = wait_card_done(bus)
    t.ok(card, "a card is read, so that its object is walked too")
    for who in ("member", "root"):
        r = bus.run_as(who, [PY, "-m", "vtest.advertised"], cwd="/")
        try:
            calls = json.loads(r.stdout)
        except ValueError:
            calls = []
        t.ok(calls, "%s: the whole tree walked through its introspection (GDBus)" % who,
             r.stdout[-2000:] + r.stderr[-2000:])
        paths = {c["path"] for c in calls}
        t.ok({"/", "/org", "/org/vitaled", "/org/vitaled/readers", "/org/vitaled/readers/1",
              "/org/vitaled/cards", card} <= paths,
             "%s: every object was called, the card's too" % who, sorted(paths))
        t.eq([c for c in calls if not c["vitaled"] or c["error"] == DENIED], [],
             "%s: all %d advertised methods were answered by vitaled itself, none "
             "refused by the bus" % (who, len(calls)))
        sets = {c["path"]: c["error"] for c in calls
                if c["interface"] == "org.freedesktop.DBus.Properties" and c["member"] == "Set"}
        t.ok({sets.get(p) for p in ("/org/vitaled", "/org/vitaled/readers/1", card)} ==
             {"org.freedesktop.DBus.Error.PropertyReadOnly"},
             "%s: Properties.Set gets vitaled's PropertyReadOnly on Manager1, Reader1 and "
             "Card1" % who, sets)
        ids = {c.get("value") for c in calls if c["member"] == "GetMachineId"}
        t.ok(len(ids) == 1 and re.fullmatch(r"[0-9a-f]{32}", ids.pop() or ""),
             "%s: Peer.GetMachineId is answered with the machine id" % who,
             [c for c in calls if c["member"] == "GetMachineId"][:2])
    h.remove(0)


# Waits for org.vitaled to get an owner, then at once lists its objects.
FIRST_LOOK = r"""
import json, sys
from gi.repository import Gio, GLib
bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
loop = GLib.MainLoop()
def owner_changed(conn, sender, path, iface, member, args):
    name, old, new = args.unpack()
    if not new:
        return
    objs = bus.call_sync("org.vitaled", "/org/vitaled", "org.freedesktop.DBus.ObjectManager",
                         "GetManagedObjects", None, None, 0, 30000, None).unpack()[0]
    print(json.dumps(sorted(p for p, i in objs.items() if "org.vitaled.Reader1" in i)))
    loop.quit()
bus.signal_subscribe("org.freedesktop.DBus", "org.freedesktop.DBus", "NameOwnerChanged",
                     "/org/freedesktop/DBus", "org.vitaled", Gio.DBusSignalFlags.NONE,
                     owner_changed)
print("listening", flush=True)
loop.run()
"""


def test_name_after_readers(t, bus, h):
    """The first GetManagedObjects after the name appears has the readers."""
    import subprocess
    watcher = bus.popen_as("member", [PY, "-c", FIRST_LOOK], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    t.eq(watcher.stdout.readline().strip(), "listening", "a client waits for org.vitaled")
    d = bus.start_vitaled(conf(), env={"PCSCLITE_CSOCK_NAME": h.socket})
    first = watcher.stdout.readline().strip()
    watcher.wait(30)
    t.eq(first, json.dumps(["/org/vitaled/readers/1", "/org/vitaled/readers/2"]),
         "its GetManagedObjects right when the name appeared lists both readers")
    t.ok(d.log().find("reader ") < d.log().find("owned on the system bus"),
         "the daemon announced its readers before it took the name", d.log()[-1500:])
    d.stop_checked(t)


def main():
    with bus_and_pcsc() as (bus, h):
        d = bus.start_vitaled(conf(), env={"PCSCLITE_CSOCK_NAME": h.socket})
        t.run(test_advertised, bus, h, d)
        d.stop_checked(t)
        t.run(test_name_after_readers, bus, h)
    t.done()


if __name__ == "__main__":
    main()
