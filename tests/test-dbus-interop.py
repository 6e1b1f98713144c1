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
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))

from vtest.tap import Tap  # noqa: E402
from vtest import pki as vpki  # noqa: E402
from vtest import family as vfam  # noqa: E402
from vtest.bus import bus_and_pcsc  # noqa: E402
from vtest.proc import wait_for  # noqa: E402

SRCDIR = os.environ.get("top_srcdir") or os.path.dirname(HERE)
BUILDDIR = os.environ.get("top_builddir") or SRCDIR
EXAMPLES = os.path.join(SRCDIR, "doc", "examples")
DATE = "2027-06-01"
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


class Client:
    """One example client as a member; its JSON events from its stdout."""

    def __init__(self, bus, lib, argv, env=None, workdir=None):
        self.lib = lib
        self.out = os.path.join(workdir, "%s-%d.jsonl" % (lib, id(self)))
        with open(self.out, "w") as f:
            self.proc = bus.popen_as("member", argv + [DATE], stdout=f,
                                     stderr=subprocess.STDOUT, env=bus.env(env), cwd="/")

    def events(self):
        out = []
        with open(self.out, errors="replace") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def text(self):
        with open(self.out, errors="replace") as f:
            return f.read()[-3000:]

    def wait(self, pred, timeout=60):
        """The first event for which pred is true (None after timeout)."""
        def find():
            for e in self.events():
                if pred(e):
                    return e
            return None
        return wait_for(find, timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(30)


def npm_dbus_next(t, where):
    """dbus-next from npm into where; the reason when it cannot be had."""
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        return "node or npm not installed (scripts/deps.sh installs them)"
    env = dict(os.environ, HOME=where, npm_config_cache=os.path.join(where, ".npm"))
    try:
        r = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", where,
                            "dbus-next@0.10"], capture_output=True, text=True, env=env,
                           timeout=600)
    except subprocess.TimeoutExpired:
        return "npm install dbus-next did not finish (is the npm registry reachable?)"
    if r.returncode:
        return "npm install dbus-next failed: %s" % (r.stderr.strip()[-500:] or r.stdout[-500:])
    return None


def clients(t, bus, workdir):
    """The three vendors' examples, or a failed point saying why one cannot run."""
    out = [("gdbus", [PY, bus.readable(os.path.join(EXAMPLES, "vitaled-gdbus.py"))], None)]
    sdbus = os.path.join(BUILDDIR, "doc", "examples", "vitaled-sdbus")
    t.ok(os.access(sdbus, os.X_OK), "the sd-bus example is built (%s)" % sdbus,
         "install libsystemd-dev (scripts/deps.sh) and run configure again")
    if os.access(sdbus, os.X_OK):
        out.append(("sd-bus", [sdbus], None))
    npm_dir = os.path.join(workdir, "npm")
    os.makedirs(npm_dir)
    why = npm_dbus_next(t, npm_dir)
    t.ok(why is None, "dbus-next installed from npm for the Node example", why)
    if why is None:
        out.append(("dbus-next", ["node", bus.readable(os.path.join(EXAMPLES, "vitaled-dbus-next.js"))],
                    {"NODE_PATH": os.path.join(npm_dir, "node_modules")}))
    return out


def test_clients(t, bus, h):
    """The same scenario through GDBus, sd-bus and dbus-next, side by side."""
    env = {"PCSCLITE_CSOCK_NAME": h.socket}
    ref, six = vfam.load("reference"), vfam.load("six")
    names = [b["first_name"] for b in ref["beneficiaries"]]
    readers = ["/org/vitaled/readers/1", "/org/vitaled/readers/2"]
    workdir = tempfile.mkdtemp(prefix="vtest-interop-")
    os.chmod(workdir, 0o755)
    libs = clients(t, bus, workdir)
    d = bus.start_vitaled(conf(), env=env)
    cs = [Client(bus, lib, argv, e, workdir) for lib, argv, e in libs]
    late = []
    try:
        for c in cs:
            e = c.wait(lambda e: e["event"] == "sync")
            t.ok(e and e["readers"] == readers and e["cards"] == [],
                 "%s: lists both readers and no card" % c.lib, c.text())

        h.insert(0, "card", family="reference")
        card = wait_card_done(bus)
        for c in cs:
            e = c.wait(lambda e: e["event"] == "done" and e["path"] == card)
            t.ok(e and e["status"] == "verified" and e["has_data"] is True
                 and e["count"] == len(names),
                 "%s: follows the card to done: verified, %d beneficiaries" % (c.lib, len(names)),
                 c.text())
            e = c.wait(lambda e: e["event"] == "data" and e["path"] == card)
            t.ok(e and e["first_names"] == names and e["serial"] == ref["card"]["serial"]["card"],
                 "%s: GetAffiliation and GetBeneficiaries give the card and its family"
                 % c.lib, c.text())
            e = c.wait(lambda e: e["event"] == "error" and e["path"] == card)
            t.ok(e and e["name"] == "org.vitaled.Error.InvalidArguments",
                 "%s: a bad date is refused by name: InvalidArguments" % c.lib, c.text())

        late = [Client(bus, lib, argv, e, workdir) for lib, argv, e in libs]
        for c in late:
            e = c.wait(lambda e: e["event"] == "sync")
            t.ok(e and e["cards"] == [card], "%s, started late: the card is listed" % c.lib,
                 c.text())
            e = c.wait(lambda e: e["event"] == "data" and e["path"] == card)
            t.ok(e and e["first_names"] == names, "%s, started late: and served" % c.lib,
                 c.text())
            c.stop()

        h.remove(0)
        for c in cs:
            t.ok(c.wait(lambda e: e["event"] == "removed" and e["path"] == card),
                 "%s: sees the card removed" % c.lib, c.text())

        h.insert(0, "card", variant="wrong-hash", family="reference")
        forged = wait_card_done(bus)
        for c in cs:
            e = c.wait(lambda e: e["event"] == "done" and e["path"] == forged)
            t.ok(e and e["status"] == "forged" and e["has_data"] is False and e["count"] == 0,
                 "%s: a forged card: forged, no data" % c.lib, c.text())
            e = c.wait(lambda e: e["event"] == "error" and e["path"] == forged
                       and e["method"] == "GetAffiliation")
            t.ok(e and e["name"] == "org.vitaled.Error.NotVerified",
                 "%s: its data is refused by name: NotVerified" % c.lib, c.text())
        h.remove(0)
        wait_for(lambda: not [p for p, i in managed(bus).items() if CARD1 in i], 30)

        # The wrong patient: a path from before the restart must fail.
        h.insert(0, "card", family="reference")
        before = wait_card_done(bus)
        for c in cs:   # its last call answered: nothing in flight when vitaled stops
            c.wait(lambda e: e["event"] == "error" and e["path"] == before)
        d.stop_checked(t)
        h.remove(0)
        for c in cs:
            t.ok(c.wait(lambda e: e["event"] == "vanished"), "%s: sees vitaled go" % c.lib,
                 c.text())
        d = bus.start_vitaled(conf(), env=env)
        h.insert(0, "card", family="six")
        after = wait_card_done(bus)
        for c in cs:
            stale = [c.wait(lambda e: e["event"] == "stale" and e["path"] == p)
                     for p in (card, forged, before)]
            t.ok(all(e and e["name"] == "org.freedesktop.DBus.Error.UnknownObject"
                     for e in stale),
                 "%s: after the restart, the 3 card paths from before answer UnknownObject, "
                 "never another read" % c.lib, stale)
            e = c.wait(lambda e: e["event"] == "data" and e["path"] == after)
            t.ok(e and after not in (card, forged, before)
                 and e["serial"] == six["card"]["serial"]["card"]
                 and e["first_names"] == [b["first_name"] for b in six["beneficiaries"]],
                 "%s: resynchronised: the next patient's card, at a new path" % c.lib, c.text())
        for c in cs:
            errs = {e["name"]: {k: v for k, v in e.items()
                                if k not in ("event", "path", "method", "name")}
                    for e in c.events() if e["event"] in ("error", "stale")}
            t.diag("%s returns for our errors: %s" % (c.lib, json.dumps(errs, sort_keys=True)))
        h.remove(0)
        d.stop_checked(t)
    finally:
        for c in cs + late:
            c.stop()
        if not os.environ.get("VTEST_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)


def main():
    with bus_and_pcsc() as (bus, h):
        d = bus.start_vitaled(conf(), env={"PCSCLITE_CSOCK_NAME": h.socket})
        t.run(test_advertised, bus, h, d)
        d.stop_checked(t)
        t.run(test_name_after_readers, bus, h)
        t.run(test_clients, bus, h)
    t.done()


if __name__ == "__main__":
    main()
