#!/usr/bin/python3
"""No personal data left in the daemon's memory once a read is gone (issue 18).

The real daemon (as the vitaled user) on a private system-like bus with our
policy, the real pcscd with virtual cards and phones; clients as root and
as a vitaled-clients member fetch the data with every data method
(GetBeneficiaries with and without a date, GetAffiliation).  At each stage
gdb's gcore takes a snapshot of the daemon's whole address space (every
heap, libdbus's and OpenSSL's allocations, thread stacks) and each personal
string of the family (NIRs, names, birth dates raw and ISO, AMC member
numbers, card serial) is counted in it:

- idle, before any card: none (the search finds nothing by accident);
- read and verified, then fetched: present (the search finds the data);
- 1 s after the card is pulled, after a phone read is released, after a
  phone read expires, after several clients fetched from two readers at
  once and the cards went: none;
- after 20 cards of another family were read and fetched: none of the first
  family, and none of the 20 once the last one is pulled.

Also: the daemon is not dumpable (no core file from a crash, no ptrace by
its own user), see doc/security.md.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))

from vtest.tap import Tap  # noqa: E402
from vtest import pki as vpki  # noqa: E402
from vtest import family as vfam  # noqa: E402
from vtest.bus import bus_and_pcsc  # noqa: E402
from vtest.proc import wait_for  # noqa: E402
from vtest.daemon import vitaled_path  # noqa: E402

DATE = "2027-06-01"
t = Tap()
REF = vfam.load("reference")
SIX = vfam.load("six")

# Runs as a client (root or member): waits until n cards are read, then
# fetches every card's data with every data method, rounds times; prints
# the first names seen; with "release", releases every card after.
FETCH = r"""
import json, sys, time
import dbus
n, rounds, release = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "release"
bus = dbus.SystemBus()
om = dbus.Interface(bus.get_object("org.vitaled", "/org/vitaled", introspect=False),
                    "org.freedesktop.DBus.ObjectManager")
for i in range(600):
    done = [p for p, i in om.GetManagedObjects().items()
            if i.get("org.vitaled.Card1", {}).get("State") == "done"]
    if len(done) >= n:
        break
    time.sleep(0.1)
names = []
for r in range(rounds):
    for p in sorted(done):
        c = dbus.Interface(bus.get_object("org.vitaled", p, introspect=False),
                           "org.vitaled.Card1")
        for date in ("", "%s"):
            names += [str(b["FirstName"]) for b in c.GetBeneficiaries(date, timeout=30)]
        names.append(str(c.GetAffiliation(timeout=30)["CardSerial"]))
if release:
    for p in done:
        bus.get_object("org.vitaled", p, introspect=False).Release(
            dbus_interface="org.vitaled.Card1", timeout=30)
print(json.dumps(sorted(set(names))))
""" % DATE


def conf():
    return ("[General]\nEnablePlugins = pcsc\n[Trust]\nDirectory = %s\n"
            "[Chips]\nReadTimeout = 30000\n[DBus]\nPhoneReadLifetime = 10\n"
            % vpki.trust_dir())


def secrets(fam):
    """Names, NIRs, birth dates (raw and ISO), AMC member numbers, serials."""
    return vfam.secrets(fam)


class Snapshots:
    """gcore of the daemon, searched for strings."""

    def __init__(self, pid):
        self.pid = pid
        self.dir = tempfile.mkdtemp(prefix="vtest-gcore-")

    def counts(self, strings):
        prefix = os.path.join(self.dir, "core")
        r = subprocess.run(["gcore", "-o", prefix, str(self.pid)], capture_output=True,
                           text=True, timeout=300)
        path = "%s.%d" % (prefix, self.pid)
        if r.returncode != 0 or not os.path.exists(path):
            raise RuntimeError("gcore failed: %s" % (r.stdout + r.stderr)[-800:])
        try:
            with open(path, "rb") as f:
                data = f.read()
        finally:
            os.unlink(path)
        return {s: data.count(s.encode()) for s in strings}

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def fetch(bus, who, n=1, rounds=1, release=False):
    return bus.popen_as(who, ["/usr/bin/python3", "-c", FETCH, str(n), str(rounds),
                              "release" if release else "keep"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")


def fetched(t, procs, fam, what):
    want = {b["first_name"] for b in fam["beneficiaries"]}
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        outs.append(out.strip() or err.strip()[-400:])
    t.ok(all(o.startswith("[") and want <= set(json.loads(o)) for o in outs),
         "%s: every client got the family's data" % what, "\n".join(outs))


def none_left(t, snap, fam, what):
    counts = snap.counts(secrets(fam))
    left = {s: n for s, n in counts.items() if n}
    t.ok(not left, "%s: no personal datum left in the daemon's memory" % what,
         "copies left: %s" % left)


def stage_wipes(t, bus, h, d, snap):
    """Each way a read ends, after every client fetched its data."""
    # pulled card, fetched by root and a member
    at = d.log_size()
    h.insert(0, "card", family="reference")
    d.wait_log(r"card \d+: .*verified", start=at, timeout=60)
    counts = snap.counts(secrets(REF))
    t.ok(any(counts.values()), "read and verified: the data is in memory (the search works)",
         str(counts))
    fetched(t, [fetch(bus, "member"), fetch(bus, "root")], REF, "card")
    counts = snap.counts(secrets(REF))
    t.ok(counts[REF["beneficiaries"][0]["nir"]] > 0, "fetched: the NIR is in memory",
         str(counts))
    at = d.log_size()
    h.remove(0)
    d.wait_log(r"removed, data wiped", start=at)
    time.sleep(1)
    none_left(t, snap, REF, "card pulled +1 s")

    # phone read released by the member that fetched it
    at = d.log_size()
    h.insert(1, "phone", family="reference")
    fetched(t, [fetch(bus, "root")], REF, "phone, root")
    fetched(t, [fetch(bus, "member", release=True)], REF, "phone, member (then Release)")
    d.wait_log(r"released by a client, data wiped", start=at)
    h.remove(1)
    time.sleep(1)
    none_left(t, snap, REF, "phone read released +1 s")

    # phone read left to expire (PhoneReadLifetime = 10 s)
    at = d.log_size()
    h.insert(1, "phone", family="reference")
    fetched(t, [fetch(bus, "member"), fetch(bus, "root")], REF, "phone to expire")
    h.remove(1)
    d.wait_log(r"phone read lifetime over, data wiped", start=at, timeout=60)
    time.sleep(1)
    none_left(t, snap, REF, "phone read expired +1 s")


def stage_load(t, bus, h, d, snap):
    """Two readers, four clients fetching in rounds at once, then both cards go."""
    at = d.log_size()
    h.insert(0, "card", family="reference")
    h.insert(1, "card", family="six")
    d.wait_log(r"card \d+: .*verified(.|\n)*card \d+: .*verified", start=at, timeout=60)
    procs = [fetch(bus, who, n=2, rounds=5) for who in ("member", "root", "member", "root")]
    for p in procs:
        out, err = p.communicate(timeout=300)
    t.ok(all(p.returncode == 0 for p in procs), "load: four clients fetched two cards 5 times")
    at = d.log_size()
    h.remove(0)
    h.remove(1)
    d.wait_log(r"removed, data wiped(.|\n)*removed, data wiped", start=at)
    time.sleep(1)
    none_left(t, snap, REF, "load, cards pulled +1 s (reference)")
    none_left(t, snap, SIX, "load, cards pulled +1 s (six)")


def stage_many(t, bus, h, d, snap):
    """The reference family fetched, then 20 cards of another family."""
    h.insert(0, "card", family="reference")
    fetched(t, [fetch(bus, "member")], REF, "reference before 20 cards")
    want = {b["first_name"] for b in SIX["beneficiaries"]}
    served = 0
    for i in range(20):
        at = d.log_size()
        h.insert(0, "card", family="six")
        out, _ = fetch(bus, "member" if i % 2 else "root").communicate(timeout=300)
        served += out.startswith("[") and want <= set(json.loads(out))
        h.remove(0)
        d.wait_log(r"removed, data wiped", start=at)
    t.eq(served, 20, "20 cards of another family, each fetched by root or a member")
    time.sleep(1)
    none_left(t, snap, REF, "after 20 cards of another family (reference)")
    none_left(t, snap, SIX, "after 20 cards of another family (the 20th, pulled +1 s)")


def test_memory(t, bus, h):
    d = bus.start_vitaled(conf(), env={"PCSCLITE_CSOCK_NAME": h.socket})
    wait_for(lambda: "reader " in d.log() and "added" in d.log(), 30)
    snap = Snapshots(d.proc.pid)     # setpriv execs the daemon: same pid
    try:
        none_left(t, snap, REF, "idle")
        t.run(stage_wipes, bus, h, d, snap)
        t.run(stage_load, bus, h, d, snap)
        t.run(stage_many, bus, h, d, snap)
        # the kernel gives a non-dumpable process's /proc files (not the
        # directory) to root
        owner = os.stat("/proc/%d/environ" % snap.pid).st_uid
        t.eq(owner, 0, "the daemon is not dumpable: /proc/PID/environ is root's (no core, "
             "no ptrace by its own user)")
    finally:
        snap.close()
    d.stop_checked(t)


def main():
    if not shutil.which("gcore"):
        print("1..0 # SKIP gdb's gcore is not installed")
        return
    with open(vitaled_path(), "rb") as f:
        if b"__asan_init" in f.read():
            # ASan keeps freed memory in its quarantine and owns free():
            # the wiping free of daemon/wipe.c is not built in
            print("1..0 # SKIP sanitizer build: freed memory is ASan's")
            return
    with bus_and_pcsc() as (bus, h):
        t.run(test_memory, bus, h)
    t.done()


if __name__ == "__main__":
    main()
