#!/usr/bin/python3
"""D-Bus benchmark of vitaled (issue 6): ratios against floors measured in
the same run, on a private system-like bus with our policy, the real daemon
(as the vitaled user) and real card reads through a private pcscd.

1. Data-method round trip, 1 client: Card1.GetBeneficiaries("") (4
   beneficiaries, ~3 KB reply) and Card1.GetAffiliation() (small reply) as
   a member of the client group, against the floor Peer.Ping to the same
   daemon over the same bus (answered inside libdbus: the bus hops and
   nothing else).  The daemon's CPU time per call is shown too.
2. The same with 100 clients connected, each with one call in flight.
3. Card insertion -> a client sees Status "verified" (PropertiesChanged),
   against the floor: the same insertion -> pcscd reports the card present
   (pyscard); the difference is the read, the verification and D-Bus.  The
   daemon's own read time (its log) is shown beside it.

    top_srcdir=... top_builddir=... /usr/bin/python3 bench/bench-dbus.py [N]
    (or `make bench-dbus` in the build directory)
"""
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("top_srcdir") or os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from vtest import pki as vpki  # noqa: E402
from vtest.pcsc import Pcsc  # noqa: E402
from vtest.bus import SystemBus  # noqa: E402

PY = "/usr/bin/python3"

# Runs as the member: n connections, k sequential calls of one kind each
# (one in flight per connection), after a warm-up; prints the latencies.
ROUND_TRIP = r"""
import sys, time, json, dbus, dbus.mainloop.glib
from gi.repository import GLib
dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
path, kind, n, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
conns = [dbus.bus.BusConnection(dbus.bus.BUS_SYSTEM) for _ in range(n)]
def run(k):
    loop = GLib.MainLoop()
    lat, left, errors = [], [n * k], []
    def one(conn):
        obj = conn.get_object("org.vitaled", path, introspect=False)
        todo = [k]
        def send():
            t0 = time.perf_counter()
            def done(*a, error=None):
                lat.append(time.perf_counter() - t0)
                if error is not None:
                    errors.append(error.get_dbus_name())
                left[0] -= 1
                todo[0] -= 1
                if todo[0]:
                    send()
                elif left[0] == 0:
                    loop.quit()
            kw = dict(timeout=120, reply_handler=done, error_handler=lambda e: done(error=e))
            if kind == "data":
                obj.GetBeneficiaries("", dbus_interface="org.vitaled.Card1", **kw)
            elif kind == "affiliation":
                obj.GetAffiliation(dbus_interface="org.vitaled.Card1", **kw)
            else:
                obj.Ping(dbus_interface="org.freedesktop.DBus.Peer", **kw)
        send()
    t0 = time.perf_counter()
    for c in conns:
        one(c)
    loop.run()
    return lat, time.perf_counter() - t0, errors
run(max(1, k // 10))
lat, wall, errors = run(k)
print(json.dumps({"lat": lat, "wall": wall, "errors": errors}))
"""

# Runs as the member: prints the CLOCK_MONOTONIC time of every card that
# turns "verified" (comparable with the bench process's time.monotonic()).
WATCH = r"""
import time, dbus, dbus.mainloop.glib
from gi.repository import GLib
dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
bus = dbus.SystemBus()
def seen(props, path):
    if props.get("Status") == "verified":
        print("%.6f %s" % (time.monotonic(), path), flush=True)
bus.add_signal_receiver(lambda p, i: seen(i.get("org.vitaled.Card1", {}), p),
                        "InterfacesAdded", "org.freedesktop.DBus.ObjectManager", "org.vitaled")
bus.add_signal_receiver(lambda i, c, inv, path=None: seen(c, path), "PropertiesChanged",
                        "org.freedesktop.DBus.Properties", "org.vitaled", path_keyword="path")
print("ready", flush=True)
GLib.MainLoop().run()
"""


def ms(x):
    return "%.3f" % (x * 1000)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def round_trips(bus, d, path, n, k):
    """{kind: {"lat": [...], "wall": s, "cpu": daemon CPU s per call}}"""
    import json
    out = {}
    for kind in ("ping", "affiliation", "data"):
        c0 = cpu_seconds(d.proc.pid)
        r = bus.run_as("member", [PY, "-c", ROUND_TRIP, path, kind, str(n), str(k)],
                       timeout=1800)
        if r.returncode:
            raise RuntimeError(r.stderr[-2000:])
        res = json.loads(r.stdout.strip().splitlines()[-1])
        if res["errors"]:
            raise RuntimeError("%s errors: %s" % (kind, res["errors"][:5]))
        res["cpu"] = (cpu_seconds(d.proc.pid) - c0) / (n * (k + max(1, k // 10)))
        out[kind] = res
    return out


def main():
    n_ins = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with SystemBus() as bus, Pcsc() as h:
        os.chmod(h.workdir, 0o711)
        os.chmod(os.path.join(h.workdir, "run"), 0o755)
        d = bus.start_vitaled("[General]\nEnablePlugins = pcsc\n[Trust]\nDirectory = %s\n"
                              % vpki.trust_dir(), env={"PCSCLITE_CSOCK_NAME": h.socket},
                              args=())
        watch = bus.popen_as("member", [PY, "-c", WATCH], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        assert watch.stdout.readline().strip() == b"ready"

        # 3. insertion -> verified seen by a client
        to_present, to_verified = [], []
        for i in range(n_ins):
            t0 = time.monotonic()
            h.insert(0, "card", family="reference")
            t1 = time.monotonic()
            line = watch.stdout.readline().decode().split()
            to_present.append(t1 - t0)
            to_verified.append(float(line[0]) - t0)
            path = line[1]
            if i < n_ins - 1:
                h.remove(0)
        reads = [int(m) for m in re.findall(r"card, verified \(.*\), \d+ APDUs, (\d+) ms",
                                            d.log())]
        watch.kill()
        watch.wait()

        # 1. and 2. round trips (the last card stays in the reader)
        one = round_trips(bus, d, path, 1, 2000)
        many = round_trips(bus, d, path, 100, 20)
        status = d.stop()

    def med(v):
        return statistics.median(v)

    print("vitaled D-Bus benchmark (%s, %d CPUs)" % (time.strftime("%Y-%m-%d %H:%M:%S"),
                                                   os.cpu_count()))
    print("%-56s %10s %10s %7s" % ("measure (median)", "vitaled", "floor", "ratio"))
    for clients, res in ((1, one), (100, many)):
        floor = med(res["ping"]["lat"])
        for kind, name in (("data", "GetBeneficiaries"), ("affiliation", "GetAffiliation")):
            a = med(res[kind]["lat"])
            print("%-56s %10s %10s %7.2f" % ("%s round trip, %d client%s (ms; floor Ping)" % (
                name, clients, "s" if clients > 1 else ""), ms(a), ms(floor), a / floor))
        a = len(res["data"]["lat"]) / res["data"]["wall"]
        b = len(res["ping"]["lat"]) / res["ping"]["wall"]
        print("%-56s %10.0f %10.0f %7.2f" % ("GetBeneficiaries calls/s, %d client%s" % (
            clients, "s" if clients > 1 else ""), a, b, a / b))
    for kind, name in (("data", "GetBeneficiaries"), ("affiliation", "GetAffiliation")):
        a, b = one[kind]["cpu"], one["ping"]["cpu"]
        print("%-56s %10.1f %10.1f %7.2f" % ("daemon CPU per %s call (us; floor Ping)" % name,
                                             a * 1e6, b * 1e6, a / b if b else 0))
    a, b = med(to_verified), med(to_present)
    print("%-56s %10s %10s %7.2f" % ("insertion -> client sees verified (ms; floor: present)",
                                     ms(a), ms(b), a / b))
    print("%-56s %10s" % ("  present -> verified at the client (ms)",
                          ms(med([v - p for v, p in zip(to_verified, to_present)]))))
    print("%-56s %10s" % ("  the daemon's read + verification (ms, its log)",
                          "%.1f" % med(reads) if reads else "?"))
    print("insertions: %d; round trips: 1 client x 2000, 100 clients x 20 per kind; "
          "daemon exit %s" % (n_ins, status))
    return 0


if __name__ == "__main__":
    sys.exit(main())
