"""The PC/SC source under test: a private pcscd with its two vpcd readers, a
private session bus and vitaled reading cards from them.

    from vtest.cardrig import Rig
    with Rig(conf="[Chips]\\nReadTimeout = 2000\\n") as rig:
        rig.ids                 # stable ids of "Virtual PCD 00 00" / "... 00 01"
                                # (Rig(pcsc_readers=8, readers=range(8)): 8 readers)
        at = rig.mark()
        card = rig.insert(0, profile="card")   # waits for "card N inserted"
        v = rig.verdict(0, at)  # waits: {"card", "form", "status", "reason", "apdus", "ms"}
        rig.remove(0, card)     # waits for "card N removed"

The daemon is observed through its log lines (stderr, --debug): the plugin
and the daemon core name readers by stable id and reads by verdict only.
"""
import json
import os
import re
import subprocess

from .daemon import Daemon
from .pcsc import Pcsc, HarnessUnavailable
from . import pki as _pki
from . import proc

__all__ = ["Rig", "Bus", "Cycler", "HarnessUnavailable", "cpu_ticks", "family_strings"]

CARD_LINE = re.compile(r"reader (\S+): card (\d+): ([\w-]+), ([\w-]+) \((.*)\), "
                       r"(\d+) APDUs, (\d+) ms$", re.M)


class Bus:
    """A private session bus that dies with the test process."""

    def __init__(self):
        self.proc = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            preexec_fn=proc.pdeathsig)
        self.address = self.proc.stdout.readline().decode().strip()

    def env(self):
        return {"DBUS_SESSION_BUS_ADDRESS": self.address}

    def close(self):
        proc.kill(self.proc)


class Rig(proc.Service):
    def __init__(self, conf="", pcsc_debug=False, wrapper=(), env=None, trust=None,
                 start_daemon=True, readers=(0, 1), pcsc_readers=2, usb_driver=None):
        self.conf = ("[Trust]\nDirectory = %s\n" % (trust or _pki.trust_dir())) + conf
        self.pcsc_debug = pcsc_debug
        self.wrapper = list(wrapper)
        self.extra_env = dict(env or {})
        self.start_daemon = start_daemon
        self.readers = readers      # the readers the daemon is expected to announce
        self.pcsc_readers = pcsc_readers    # vpcd readers in pcscd (even, <= 16)
        self.usb_driver = usb_driver  # see vtest.pcsc (USB hot-plug)
        self.pcsc = None
        self.bus = None
        self.daemon = None
        self.ids = []

    def start(self):
        # tests start() inside a try (to skip without pcscd), then enter "with"
        if self.pcsc:
            return
        self.pcsc = Pcsc(debug=self.pcsc_debug, readers=self.pcsc_readers,
                         usb_driver=self.usb_driver)
        self.pcsc.start()
        self.bus = Bus()
        if self.start_daemon:
            self.start_vitaled()

    def start_vitaled(self, timeout=60):
        env = self.pcsc.env(self.bus.env())
        env.update(self.extra_env)
        # the daemon (or its valgrind) dies with the test, even a killed one
        self.daemon = Daemon(conf=self.conf, env=env, session=True,
                             wrapper=["setpriv", "--pdeathsig", "KILL", "--"] + self.wrapper)
        at = 0
        self.daemon.start(timeout=timeout)
        self.ids = [self.reader_id(name, at, timeout) if i in self.readers else None
                    for i, name in enumerate(self.pcsc.readers)]
        return self.daemon

    def reader_id(self, name, start=0, timeout=30):
        m = self.wait(r'reader (\S+): added \((\w+), "%s"\)' % re.escape(name), start, timeout)
        return m.group(1)

    def stop(self):
        if self.daemon:
            self.daemon.stop()
        if self.bus:
            self.bus.close()
            self.bus = None
        if self.pcsc:
            self.pcsc.stop()
            self.pcsc = None

    # -- log ---------------------------------------------------------------

    def log(self):
        return self.daemon.log()

    def mark(self):
        return self.daemon.log_size()

    def wait(self, pattern, start=0, timeout=30):
        return self.daemon.wait_log(pattern, timeout, start)

    def verdicts(self, start=0, reader=None):
        """Every finished read after start, oldest first."""
        out = []
        for m in CARD_LINE.finditer(self.log()[start:]):
            v = {"reader": m.group(1), "card": int(m.group(2)), "form": m.group(3),
                 "status": m.group(4), "reason": m.group(5), "apdus": int(m.group(6)),
                 "ms": int(m.group(7)), "at": start + m.start()}
            if reader is None or v["reader"] == self.ids[reader]:
                out.append(v)
        return out

    def verdict(self, reader, start=0, timeout=30):
        """Wait for the next finished read on reader (index) after start."""
        self.wait(r"reader %s: card \d+: " % re.escape(self.ids[reader]), start, timeout)
        return self.verdicts(start, reader)[0]

    def inserted(self, reader, start=0, timeout=30):
        """Wait until the daemon started reading a card in reader; its number."""
        m = self.wait(r"reader %s: card (\d+) inserted, reading" % re.escape(self.ids[reader]),
                      start, timeout)
        return int(m.group(1))

    # -- cards: the daemon's log is the oracle (polling pcscd from the
    # test side every few ms can starve vpcd's card detection under load)

    def insert(self, reader, timeout=60, **kw):
        """Insert a card and wait until the daemon starts reading it."""
        at = self.mark()
        self.pcsc.insert(reader, wait=False, **kw)
        return self.inserted(reader, at, timeout)

    def remove(self, reader, card=None, timeout=30):
        """Pull the card; with card (its number) wait until the daemon saw it go."""
        at = self.mark()
        self.pcsc.remove(reader, wait=False)
        # a phone's read outlives the tap: then only the reader goes idle
        if card is not None:
            self.wait(r"reader %s: (card %d removed|idle)" % (re.escape(self.ids[reader]), card),
                      at, timeout)

    def finish(self, timeout=60):
        """Stop vitaled (SIGTERM): its exit status and any sanitizer or
        valgrind report found in its log."""
        status = self.daemon.stop(timeout=timeout)
        log = self.log()
        valgrind = [ln for ln in log.splitlines()
                    if re.search(r"definitely lost|indirectly lost|Invalid (read|write|free)|"
                                 r"uninitialised", ln)]
        return status, proc.sanitizer_report(log) + valgrind

    # -- the daemon's D-Bus objects (private session bus), through busctl

    def busctl(self, *args):
        out = subprocess.run(["busctl", "--address=" + self.bus.address, "--json=short"]
                             + list(args), capture_output=True, text=True, timeout=30)
        if out.returncode:
            raise RuntimeError("busctl %s: %s" % (" ".join(args), out.stderr.strip()))
        return json.loads(out.stdout)["data"] if out.stdout.strip() else None

    def prop(self, path, interface, name):
        return self.busctl("get-property", "org.vitaled", path, "org.vitaled." + interface, name)

    def readers_on_bus(self):
        """{Id: {"Kind":..., "State":..., "path":...}} of every Reader1 object."""
        paths = self.busctl("call", "org.vitaled", "/org/vitaled", "org.vitaled.Manager1",
                            "GetReaders")[0]
        return {self.prop(p, "Reader1", "Id"): {"Kind": self.prop(p, "Reader1", "Kind"),
                                                "State": self.prop(p, "Reader1", "State"),
                                                "path": p} for p in paths}

    def pid(self):
        return self.daemon.proc.pid


class Cycler:
    """tests/pcsc/cycler.py in a reader: one chip inserted and pulled fast."""

    def __init__(self, rig, reader, profile="card", variant="reference", image=None):
        argv = ["/usr/bin/python3", os.path.join(_pki.SRCDIR, "tests", "pcsc", "cycler.py"),
                "--pki", _pki.pki_dir(), "--profile", profile, "--variant", variant,
                "--reader", str(reader)] + (["--image", image] if image else [])
        self.log = open(os.path.join(rig.pcsc.workdir, "cycler-%d.log" % reader), "wb")
        self.proc = rig.pcsc.netns_popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self.log)
        line = self.proc.stdout.readline().decode().strip()
        if line != "ready":
            self.close()
            raise RuntimeError("cycler did not start: %r" % line)

    def cmd(self, line):
        proc.command(self.proc, line, "cycler")

    def close(self):
        proc.kill(self.proc)
        self.log.close()


def cpu_ticks(pid):
    """utime + stime of the whole process, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def family_strings(family="reference"):
    """The personal strings of a family file (names, NIR, member numbers),
    for checking that none reaches a log line."""
    import json
    path = os.path.join(_pki.SRCDIR, "tests", "emu", "families", family + ".json")
    with open(path) as f:
        fam = json.load(f)
    out = set()

    def walk(x, key=""):
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, k)
        elif isinstance(x, list):
            for v in x:
                walk(v, key)
        elif isinstance(x, str) and len(x) >= 4 and any(
                w in key for w in ("name", "nir", "member")):
            out.add(x)
    walk(fam)
    return out
