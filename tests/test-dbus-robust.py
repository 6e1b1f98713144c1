#!/usr/bin/python3
"""org.vitaled keeps serving when clients misbehave or crowd in.

On a private system-like bus with our policy, the real daemon and a real
card read through pcscd:
- clients that disconnect in the middle of a data call (before the daemon
  has checked their credentials, or before it answers);
- a client that floods calls and subscribes to every signal, and never
  reads a byte of what comes back, while cards come and go;
- 100 clients connected at once, each with a data call in flight;
the others are served meanwhile, the daemon does not grow without bound
and every call the bus routed to the daemon is accounted for in the audit
log.
"""
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))

from vtest.tap import Tap  # noqa: E402
from vtest import pki as vpki  # noqa: E402
from vtest.bus import bus_and_pcsc  # noqa: E402
from vtest.proc import rss_kib, wait_for  # noqa: E402

PY = "/usr/bin/python3"
CARD1 = "org.vitaled.Card1"
t = Tap()


def card_path(bus):
    r = bus.call_as("root", "/org/vitaled", "org.vitaled.Manager1", "GetCards")
    return (r.get("ok") or [None])[0]


def wait_verified(bus):
    def check():
        p = card_path(bus)
        if not p:
            return None
        r = bus.call_as("root", p, "org.freedesktop.DBus.Properties", "Get", CARD1, "Status")
        return p if r.get("ok") == "verified" else None
    return wait_for(check, 30, 0.1)


def audits(d):
    return [x for x in d.log().splitlines() if "audit:" in x]


SUMMARY = re.compile(r"audit: (\d+) more refused calls within ")


def accounted(lines):
    """Calls an audit trail tells of: one a line, or N in a line of
    coalesced refusals (doc/dbus-api.md)."""
    return sum(int(m.group(1)) if m else 1 for m in map(SUMMARY.search, lines))


# Sends the call, makes sure it left, and exits without waiting for the reply.
HIT_AND_RUN = r"""
import sys, dbus, dbus.lowlevel
bus = dbus.bus.BusConnection(dbus.bus.BUS_SYSTEM)
for i in range(int(sys.argv[2])):
    m = dbus.lowlevel.MethodCallMessage("org.vitaled", sys.argv[1], "org.vitaled.Card1",
                                        "GetBeneficiaries")
    m.append("", signature="s")
    bus.send_message(m)
bus.flush()
bus.close()
"""

# Floods calls and subscribes to everything; never reads (no main loop).
NON_READER = r"""
import sys, time, dbus, dbus.lowlevel
bus = dbus.bus.BusConnection(dbus.bus.BUS_SYSTEM)
bus.add_match_string_non_blocking("sender='org.vitaled'")
for i in range(int(sys.argv[2])):
    m = dbus.lowlevel.MethodCallMessage("org.vitaled", sys.argv[1],
                                        "org.freedesktop.DBus.ObjectManager",
                                        "GetManagedObjects")
    bus.send_message(m)
    if i % 500 == 0:
        bus.flush()
bus.flush()
print("flooded", flush=True)
time.sleep(3600)
"""

# n connections, each with one data call in flight at a time, k calls each.
CROWD = r"""
import sys, dbus, dbus.mainloop.glib
from gi.repository import GLib
dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
path, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
loop = GLib.MainLoop()
conns = [dbus.bus.BusConnection(dbus.bus.BUS_SYSTEM) for _ in range(n)]
stats = {"ok": 0, "errors": {}, "left": n * k}
def one(conn):
    obj = conn.get_object("org.vitaled", path, introspect=False)
    def done(result=None, error=None):
        if error is None and len(result) == 4:
            stats["ok"] += 1
        else:
            name = error.get_dbus_name() if error else "wrong-result"
            stats["errors"][name] = stats["errors"].get(name, 0) + 1
        stats["left"] -= 1
        state["n"] -= 1
        if state["n"] > 0:
            send()
        if stats["left"] == 0:
            loop.quit()
    def send():
        obj.GetBeneficiaries("", dbus_interface="org.vitaled.Card1", timeout=120,
                             reply_handler=lambda r: done(r),
                             error_handler=lambda e: done(error=e))
    state = {"n": k}
    send()
for c in conns:
    one(c)
GLib.timeout_add_seconds(300, loop.quit)
loop.run()
print(stats["ok"], stats["errors"], flush=True)
"""


def test_disconnect_mid_call(t, bus, d, path):
    # What the bus routed to the daemon, seen by a monitor: a call from a
    # client already gone may never be routed, and then nobody can audit it.
    out = os.path.join(d.dir, "monitor-hit-and-run.txt")
    with open(out, "w") as f:
        mon = bus.popen_as("root", ["dbus-monitor", "--system",
                                    "type='method_call',interface='%s',member='GetBeneficiaries',"
                                    "path='%s'" % (CARD1, path)],
                           stdout=f, stderr=subprocess.STDOUT)
    wait_for(lambda: "member=NameLost" in open(out).read(), 30)
    before = len(audits(d))
    procs = [bus.popen_as("member", [PY, "-c", HIT_AND_RUN, path, "5"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for _ in range(20)]
    errs = [p.communicate(timeout=60)[1] for p in procs]
    t.ok(all(p.returncode == 0 for p in procs), "20 clients sent 5 data calls each and left",
         errs)
    # every call ends in the audit log one way or the other
    # refusals of one kind are counted, the count written when its window is over
    done = wait_for(lambda: accounted(audits(d)[before:]) >= 100, 40)
    mon.send_signal(signal.SIGTERM)
    mon.wait(10)
    routed = open(out, errors="replace").read().count("member=GetBeneficiaries")
    lines = audits(d)[before:]
    gone = accounted([x for x in lines if "caller gone" in x])
    t.ok((done or routed < 100) and accounted(lines) == routed,
         "every call the bus routed to the daemon is accounted for in the audit log (%d of "
         "100 routed; %d found the caller gone; %d lines)" % (routed, gone, len(lines)),
         lines[-5:])
    t.ok(d.proc.poll() is None, "the daemon is still running")
    r = bus.call_as("member", path, CARD1, "GetBeneficiaries", "")
    t.ok("ok" in r and len(r["ok"]) == 4, "a well-behaved client is served afterwards", r)


def flood_round(bus, h):
    """A non-reader floods; cards come and go; another client is served."""
    hog = bus.popen_as("member", [PY, "-c", NON_READER, "/org/vitaled", "20000"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    flooded = hog.stdout.readline().decode().strip() == "flooded"
    served = 0
    for i in range(3):
        h.remove(0)
        h.insert(0, "card", family="reference")
        p = wait_verified(bus)
        r = bus.call_as("member", p or "/", CARD1, "GetBeneficiaries", "")
        served += "ok" in r and len(r["ok"]) == 4
    alive = hog.poll() is None
    hog.kill()
    hog.wait()
    hog.stdout.close()
    hog.stderr.close()
    return flooded, served, alive


def test_non_reader(t, bus, h, d, path):
    rss = [rss_kib(d.proc.pid)]
    for n in (1, 2):
        flooded, served, alive = flood_round(bus, h)
        t.ok(flooded, "round %d: a client sent 20000 calls, subscribed to every signal, "
             "and reads nothing" % n)
        t.eq(served, 3, "round %d: meanwhile cards come and go and another client is "
             "served each time" % n)
        t.ok(alive and d.proc.poll() is None,
             "round %d: the non-reader stayed connected, the daemon running" % n)
        time.sleep(0.5)
        rss.append(rss_kib(d.proc.pid))
    # The first round warms caches up; a second one must not add to it.
    t.ok(rss[2] - rss[1] < 2048 and rss[2] - rss[0] < 16384,
         "the daemon's memory stays bounded (RSS %d -> %d -> %d KiB)" % tuple(rss))
    r = bus.call_as("member", "/org/vitaled", "org.vitaled.Manager1", "GetCards")
    t.ok("ok" in r, "served after the non-readers are gone", r)


def test_bus_stall(t, bus, h, d):
    """The bus daemon stops reading (SIGSTOP): vitaled must not block."""
    h.remove(0)
    start = len(d.log())
    os.kill(bus.proc.pid, signal.SIGSTOP)
    try:
        for i in range(3):
            h.insert(0, "card", family="reference")
            seen = wait_for(lambda: d.log().count("card, verified", start) > i, 30)
            h.remove(0)
            wait_for(lambda: d.log().count("data wiped", start) > i, 30)
        t.ok(seen and d.log().count("card, verified", start) == 3,
             "bus stopped: the daemon still reads and verifies cards (3 reads)")
    finally:
        os.kill(bus.proc.pid, signal.SIGCONT)
    h.insert(0, "card", family="reference")
    p = wait_verified(bus)
    r = bus.call_as("member", p or "/", CARD1, "GetBeneficiaries", "")
    t.ok(p and "ok" in r and len(r["ok"]) == 4,
         "bus back: the current card is there, verified, and served", r)


def test_big_message(t, bus, d, path):
    code = ("import sys, dbus\n"
            "o = dbus.SystemBus().get_object('org.vitaled', sys.argv[1], introspect=False)\n"
            "try:\n"
            "    o.GetBeneficiaries('2027-06-01' + 'x' * (1 << 20),"
            " dbus_interface='org.vitaled.Card1')\n"
            "except dbus.exceptions.DBusException as e:\n"
            "    print(e.get_dbus_name())\n")
    rc, out, err = bus.python_as("member", code, path)
    t.eq(out.strip(), "org.vitaled.Error.InvalidArguments",
         "a 1 MiB argument is refused as an invalid date")
    r = bus.call_as("member", path, CARD1, "GetBeneficiaries", "")
    t.ok(d.proc.poll() is None and "ok" in r, "the daemon kept its bus connection", r)


def test_crowd(t, bus, d, path):
    before = len(audits(d))
    r = bus.run_as("member", [PY, "-c", CROWD, path, "100", "5"], timeout=600)
    words = (r.stdout.strip().split(" ", 1) + [""])[:2]
    t.ok(r.returncode == 0 and words[0] == "500" and words[1] == "{}",
         "100 concurrent clients: 500 data calls, all answered with the family",
         r.stdout + r.stderr[-2000:])
    lines = audits(d)[before:]
    t.eq(len([x for x in lines if x.endswith(": released")]), 500,
         "500 releases in the audit log")


def main():
    with bus_and_pcsc() as (bus, h):
        conf = ("[General]\nEnablePlugins = pcsc\n[Trust]\nDirectory = %s\n"
                % vpki.trust_dir())
        # Under --enable-sanitizers, ASan's quarantine of freed blocks would
        # count as growth: keep it small so RSS shows live memory.
        asan = os.environ.get("ASAN_OPTIONS", "")
        d = bus.start_vitaled(conf, env={"PCSCLITE_CSOCK_NAME": h.socket,
                                         "ASAN_OPTIONS": asan + (":" if asan else "")
                                         + "quarantine_size_mb=1"})
        h.insert(0, "card", family="reference")
        path = wait_verified(bus)
        t.ok(path, "a reference card is verified")
        path = path or "/"
        t.run(test_disconnect_mid_call, bus, d, path)
        t.run(test_non_reader, bus, h, d, path)
        path = wait_verified(bus) or path
        t.run(test_bus_stall, bus, h, d)
        path = wait_verified(bus) or path
        t.run(test_big_message, bus, d, path)
        t.run(test_crowd, bus, d, path)
        d.stop_checked(t)
    t.done()


if __name__ == "__main__":
    main()
