"""A private pcscd with two virtual readers, and virtual cards to put in them.

Stable API (other test areas import it; extend, do not change):

    from vtest.pcsc import Pcsc, HarnessUnavailable

    with Pcsc(workdir=None, pki=None, debug=False, readers=2) as h:
        h.socket            # path for PCSCLITE_CSOCK_NAME (os.environ gets a
                            # per-process link to it: see _process_socket)
        h.env(extra=None)   # os.environ copy with PCSCLITE_CSOCK_NAME (for subprocesses)
        h.share_socket()    # other users (the daemon's) may reach the socket
        h.readers           # ["Virtual PCD 00 00", "Virtual PCD 00 01"]; with
                            # readers=N (even, <= 16: pcscd's limit) also
                            # "Virtual PCD 1 00 00", "Virtual PCD 1 00 01", ...
        card = h.insert(reader=0, profile="card", variant="reference",
                        family=None, pki=None, args=(), wait=True)
                            # starts tests/emu/vcard.py on that reader (inside the
                            # netns) and waits until pyscard sees the card PRESENT.
                            # profile: card | phone | legacy | iso7816 (non-health);
                            # variant: see `vcard.py --list` (verdicts there too);
                            # family: name in tests/emu/families (default reference,
                            # legacy for the legacy profile) or a JSON path;
                            # args: extra vcard.py options (--delay, --max-apdus...).
                            # card.atr, card.proc, card.log, card.alive(), card.output()
        h.insert_cmd(reader, argv, wait=True)  # any emulator command; it must
                            # connect to 127.0.0.1:h.port(reader) itself
        h.port(reader)      # vpcd TCP port of that reader (35963 + reader)
        h.remove(reader=0, wait=True)   # kills the emulator, waits for EMPTY
        h.wait(reader, present, timeout=20)  # True when reached
        h.state(reader)     # SCARD_STATE_* bit mask seen now
        h.restart_pcscd()   # kill and start pcscd again; both readers are empty
                            # afterwards (emulators exit with pcscd)
        h.kill_pcscd() / h.start_pcscd()  # the two halves, for outage tests
        h.netns_popen(argv, **popen_kw)  # run anything in the private netns
        h.pcscd_log()       # pcscd's output (-f; with debug=True also -d -a)
        # Pcsc(..., usb_driver=PATH of a test IFD handler, tests/pcsc/
        # ifd-hotplug.c): pcscd also hot-plugs fake USB readers
        r = h.usb_plug(dev=2)   # USB device dev (2..127, serial VT<dev>) plugged;
                            # waits until pcscd lists it; its reader index
                            # (the same one again on replug): h.readers[r]
                            # is its name, insert/remove/wait/port work on it
        h.usb_unplug(dev=2)     # unplugged; True once pcscd dropped it
    # everything is torn down here, and also at exit, on SIGTERM, and if the
    # test process is killed (children carry PR_SET_PDEATHSIG).

How: a holder process made with `unshare --mount --net --propagation private`
brings up `lo` and bind-mounts WORKDIR/run on /run/pcscd, then sleeps. pcscd
(-f, reader.conf.d in WORKDIR/conf with one vpcd entry = 2 readers, one more
entry per further pair of readers; --disable-polkit where pcscd has it, as
pcsc-lite 2.x does) and the
emulators are started in its namespaces with nsenter, so vpcd's fixed TCP
ports never collide with other test runs; clients reach pcscd through the
unix socket, which crosses network namespaces. Needs root (as a non-root
user an unprivileged user namespace is tried); HarnessUnavailable is raised
when the namespaces cannot be made, so a test can skip with the reason.

PKI: pki defaults to vtest.pki.pki_dir() (tests/pki/mkpki.sh, cached).

USB hot-plug: pcscd adds USB readers only through libudev, for devices
matching a bundle in its drop directory (fixed at build time). With
usb_driver, the holder also bind-mounts WORKDIR/drivers over that
directory (a bundle naming the handler, for the VID/PID of usb-bed.py,
and a copy of vpcd so reader.conf still works), and pcscd runs with
umockdev's preload on the fake USB bus of tests/pcsc/usb-bed.py, which
sends the add/remove uevents. The handler listens like vpcd, on port
USB_PORT_BASE + the device number.
"""
import atexit
import os
import signal
import shutil
import subprocess
import tempfile
import time

from . import pki as _pki
from .proc import Service, command as _command, kill as _kill, on_exit, pdeathsig as _pdeathsig

SRCDIR = os.environ.get("top_srcdir") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
VCARD = os.path.join(SRCDIR, "tests", "emu", "vcard.py")
USB_BED = os.path.join(SRCDIR, "tests", "pcsc", "usb-bed.py")
DROP_DIR = "/usr/lib/pcsc/drivers"
USB_PORT_BASE = 36000
USB_BUNDLE = """<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0">
<dict>
  <key>CFBundleExecutable</key>
  <string>ifd-hotplug.so</string>
  <key>ifdVendorID</key>
  <array><string>0x1209</string></array>
  <key>ifdProductID</key>
  <array><string>0x0001</string></array>
  <key>ifdFriendlyName</key>
  <array><string>Vtest USB Reader</string></array>
</dict>
</plist>
"""
PYTHON = "/usr/bin/python3"
VPCD_LIB = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
VPCD_PORT = 35963
READERS = ["Virtual PCD 00 00", "Virtual PCD 00 01"]


class HarnessUnavailable(Exception):
    """The private pcscd cannot be set up here (no namespaces, no pcscd...)."""


def _scard():
    from smartcard import scard  # imported late: only /usr/bin/python3 has it
    return scard


_polkit_switch = {}


def _pcscd_polkit_args(pcscd):
    """pcsc-lite 2.x built with polkit asks polkitd about every client; the
    private pcscd has no system bus to ask on and would reject them all.
    Its --disable-polkit (absent from 1.x, which has no polkit) lets them in."""
    if pcscd not in _polkit_switch:
        try:
            out = subprocess.run([pcscd, "--help"], stdin=subprocess.DEVNULL, capture_output=True,
                                 timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired) as e:
            raise HarnessUnavailable("%s --help: %s" % (pcscd, e))
        _polkit_switch[pcscd] = ["--disable-polkit"] if b"--disable-polkit" in out else []
    return _polkit_switch[pcscd]


_link_dir = None


def _process_socket(target):
    """libpcsclite reads PCSCLITE_CSOCK_NAME once per process: pyscard here
    reaches each new pcscd through one link, re-pointed at every start."""
    global _link_dir
    if _link_dir is None:
        _link_dir = tempfile.mkdtemp(prefix="vtest-pcsc-link-")
        os.chmod(_link_dir, 0o711)
        atexit.register(shutil.rmtree, _link_dir, True)
    link = os.path.join(_link_dir, "pcscd.comm")
    os.symlink(target, link + ".new")
    os.replace(link + ".new", link)
    return link


class Card:
    """An emulator process in a reader."""

    def __init__(self, reader, proc, log):
        self.reader = reader
        self.proc = proc
        self.log = log
        self.atr = None

    def alive(self):
        return self.proc.poll() is None

    def output(self):
        with open(self.log, errors="replace") as f:
            return f.read()


class Pcsc(Service):
    def __init__(self, workdir=None, pki=None, debug=False, readers=2, usb_driver=None):
        if readers < 2 or readers % 2 or readers > 16:
            raise ValueError("readers: an even number from 2 to 16, not %r" % readers)
        self.own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="vtest-pcsc-")
        self.pki = pki
        self.debug = debug
        self.socket = os.path.join(self.workdir, "run", "pcscd.comm")
        self.readers = list(READERS) + ["Virtual PCD %d 00 0%d" % (i // 2, i % 2)
                                        for i in range(2, readers)]
        self.holder = None
        self.n_vpcd = len(self.readers)
        self.usb_driver = usb_driver
        self.usb_bed = None
        self.usb_root = None
        self.usb_index = {}         # USB device number -> reader index
        self.pcscd = None
        self.cards = {}
        self.ns = []
        self._old_env = None
        self._old_term = None
        self._ctx = None
        self._atr = b""
        self.tools = {}

    # -- lifecycle ---------------------------------------------------------

    def start(self):
        path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
        tools = ("unshare", "nsenter", "ip", "pcscd", "mount")
        if self.usb_driver:
            tools += ("umockdev-wrapper",)
        for tool in tools:
            self.tools[tool] = shutil.which(tool, path=path)
            if not self.tools[tool]:
                raise HarnessUnavailable("%s not found" % tool)
        if not os.path.exists(VPCD_LIB):
            raise HarnessUnavailable("vsmartcard-vpcd not installed (%s)" % VPCD_LIB)
        self._old_term = on_exit(self.stop)
        os.makedirs(os.path.join(self.workdir, "run"), exist_ok=True)
        conf = os.path.join(self.workdir, "conf")
        os.makedirs(conf, exist_ok=True)
        with open(os.path.join(conf, "vpcd"), "w") as f:
            for k in range(len(self.readers) // 2):
                f.write(self._vpcd_entry(k))
        if self.usb_driver:
            self._start_usb()
        self._start_holder()
        self._old_env = os.environ.get("PCSCLITE_CSOCK_NAME")
        os.environ["PCSCLITE_CSOCK_NAME"] = _process_socket(self.socket)
        self.start_pcscd()

    def _vpcd_entry(self, k):
        """reader.conf entry k: readers 2k and 2k+1 on TCP ports 35963 + 2k and
        + 2k + 1.  vpcd keeps its connections in static arrays indexed by slot
        and a library is loaded once however many entries name it, so every
        entry past the first gets its own copy of the library; and its own
        name (with one name, pcscd called every pair "Virtual PCD 00 0x")."""
        lib, name = VPCD_LIB, "Virtual PCD"
        if k:
            lib = os.path.join(self.workdir, "libifdvpcd-%d.so" % k)
            shutil.copyfile(VPCD_LIB, lib)
            name += " %d" % k
        port = VPCD_PORT + 2 * k
        return ('FRIENDLYNAME "%s"\nDEVICENAME /dev/null:0x%04X\nLIBPATH %s\n'
                "CHANNELID 0x%04X\n\n" % (name, port, lib, port))

    def _start_usb(self):
        """The drop directory pcscd will see, and the fake USB bus."""
        if not os.path.exists(self.usb_driver):
            raise HarnessUnavailable("%s not built" % self.usb_driver)
        drivers = os.path.join(self.workdir, "drivers")
        contents = os.path.join(drivers, "ifd-vtest.bundle", "Contents")
        os.makedirs(os.path.join(contents, "Linux"), exist_ok=True)
        os.makedirs(os.path.join(drivers, "serial"), exist_ok=True)
        # the overlay hides the real directory: reader.conf's vpcd path
        # must still resolve
        shutil.copyfile(VPCD_LIB, os.path.join(drivers, "serial", os.path.basename(VPCD_LIB)))
        shutil.copyfile(self.usb_driver, os.path.join(contents, "Linux", "ifd-hotplug.so"))
        with open(os.path.join(contents, "Info.plist"), "w") as f:
            f.write(USB_BUNDLE)
        self.usb_bed = subprocess.Popen(
            [self.tools["umockdev-wrapper"], PYTHON, USB_BED], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_pdeathsig)
        line = self.usb_bed.stdout.readline().decode().split()
        if len(line) != 2 or line[0] != "root":
            err = self.usb_bed.stderr.read().decode(errors="replace") \
                if self.usb_bed.poll() is not None else ""
            raise HarnessUnavailable("umockdev testbed did not start: %s" % err.strip()[-2000:])
        self.usb_root = line[1]

    def _usb_cmd(self, line):
        _command(self.usb_bed, line, "usb-bed")

    def usb_plug(self, dev=2, timeout=20):
        """Plug USB device dev; its reader index once pcscd lists it."""
        self._usb_cmd("plug %d" % dev)
        tag = "(VT%d)" % dev
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            names = [n for n in self._list_readers() or [] if tag in n]
            if names:
                if dev not in self.usb_index:
                    self.usb_index[dev] = len(self.readers)
                    self.readers.append(None)
                self.readers[self.usb_index[dev]] = names[0]
                return self.usb_index[dev]
            time.sleep(0.05)
        raise RuntimeError("pcscd did not add USB device %d: %s"
                           % (dev, self.pcscd_log()[-3000:]))

    def usb_unplug(self, dev=2, timeout=20):
        """Unplug USB device dev; True once pcscd no longer lists it."""
        self._usb_cmd("unplug %d" % dev)
        name = self.readers[self.usb_index[dev]]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if name not in (self._list_readers() or []):
                return True
            time.sleep(0.05)
        return False

    def _start_holder(self):
        drivers = ""
        if self.usb_driver:
            drivers = "'%s' --bind '%s' '%s' && " % (
                self.tools["mount"], os.path.join(self.workdir, "drivers"), DROP_DIR)
        script = ("'%s' link set lo up && mkdir -p /run/pcscd && "
                  "'%s' --bind '%s' /run/pcscd && %secho ready && exec sleep 1000000"
                  % (self.tools["ip"], self.tools["mount"], os.path.join(self.workdir, "run"),
                     drivers))
        argv = [self.tools["unshare"], "--mount", "--net", "--propagation", "private"]
        self.ns = ["--net", "--mount"]
        if os.geteuid() != 0:
            argv[1:1] = ["--user", "--map-root-user"]
            self.ns = ["--user", "--preserve-credentials", "--net", "--mount"]
        self.holder = subprocess.Popen(argv + ["sh", "-c", script], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, preexec_fn=_pdeathsig)
        line = self.holder.stdout.readline()
        if line.strip() != b"ready":
            err = self.holder.stderr.read().decode(errors="replace") if self.holder.poll() is not None else ""
            _kill(self.holder)
            self.holder = None
            raise HarnessUnavailable("cannot make the private namespaces: %s" % err.strip())

    def netns_popen(self, argv, **kw):
        """Start argv inside the private network and mount namespaces."""
        kw.setdefault("preexec_fn", _pdeathsig)
        return subprocess.Popen([self.tools["nsenter"], "--target", str(self.holder.pid)] + self.ns
                                + ["--"] + list(argv), **kw)

    def start_pcscd(self):
        log = open(os.path.join(self.workdir, "pcscd.log"), "ab")
        argv = [self.tools["pcscd"], "-f", "-c", os.path.join(self.workdir, "conf")]
        argv += _pcscd_polkit_args(self.tools["pcscd"])
        if self.debug:
            argv += ["-d", "-a"]
        env = None
        if self.usb_root:
            env = dict(os.environ, LD_PRELOAD="libumockdev-preload.so.0",
                       UMOCKDEV_DIR=self.usb_root, VTEST_IFD_PORT_BASE=str(USB_PORT_BASE))
        self.pcscd = self.netns_popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=env)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.pcscd.poll() is not None:
                raise HarnessUnavailable("pcscd exited: %s" % self.pcscd_log()[-2000:])
            # USB readers still plugged come back too
            if set(self.readers[:self.n_vpcd]) <= set(self._list_readers() or []):
                return
            time.sleep(0.05)
        raise HarnessUnavailable("pcscd did not show the vpcd readers: %s"
                                 % self.pcscd_log()[-2000:])

    def kill_pcscd(self):
        self._release_ctx()
        if self.pcscd:
            _kill(self.pcscd)
            self.pcscd = None
        for r in list(self.cards):
            _kill(self.cards.pop(r).proc)

    def restart_pcscd(self):
        self.kill_pcscd()
        self.start_pcscd()

    def pcscd_log(self):
        try:
            with open(os.path.join(self.workdir, "pcscd.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        """Tear everything down; safe to call more than once."""
        self.kill_pcscd()
        if self.holder:
            _kill(self.holder)
            self.holder = None
        if self.usb_bed:
            # end of input: the testbed removes its directory
            try:
                self.usb_bed.stdin.close()
                self.usb_bed.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
            _kill(self.usb_bed)
            self.usb_bed = None
        if self._old_env is None:
            os.environ.pop("PCSCLITE_CSOCK_NAME", None)
        else:
            os.environ["PCSCLITE_CSOCK_NAME"] = self._old_env
        if self._old_term is not None:
            signal.signal(signal.SIGTERM, self._old_term)
            self._old_term = None
        if self.own_workdir and os.path.isdir(self.workdir) and not os.environ.get("VTEST_KEEP"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def share_socket(self):
        """Let other users (the daemon's, a test client's) reach pcscd's socket."""
        os.chmod(self.workdir, 0o711)
        os.chmod(os.path.join(self.workdir, "run"), 0o755)

    def env(self, extra=None):
        e = dict(os.environ)
        e["PCSCLITE_CSOCK_NAME"] = self.socket
        e.update(extra or {})
        return e

    # -- cards -------------------------------------------------------------

    def port(self, reader):
        for dev, index in self.usb_index.items():
            if index == reader:
                return USB_PORT_BASE + dev
        return VPCD_PORT + reader

    def insert(self, reader=0, profile="card", variant="reference", family=None, pki=None,
               args=(), wait=True):
        argv = [PYTHON, VCARD, "--profile", profile, "--variant", variant,
                "--port", str(self.port(reader))]
        if profile != "iso7816":
            argv += ["--pki", pki or self.pki or _pki.pki_dir()]
        if family:
            argv += ["--family", family]
        return self.insert_cmd(reader, argv + list(args), wait)

    def insert_cmd(self, reader, argv, wait=True):
        if reader in self.cards:
            self.remove(reader)
        log = os.path.join(self.workdir, "emu-%d.log" % reader)
        with open(log, "wb") as f:
            proc = self.netns_popen(argv, stdout=f, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        card = Card(reader, proc, log)
        self.cards[reader] = card
        if wait and not self.wait(reader, True, proc=proc):
            out = card.output()
            self.remove(reader, wait=False)
            raise RuntimeError("card did not appear in reader %d: %s" % (reader, out[-3000:]))
        if wait:
            card.atr = self._atr
        return card

    def remove(self, reader=0, wait=True):
        card = self.cards.pop(reader, None)
        if card:
            _kill(card.proc)
        if wait:
            return self.wait(reader, False)
        return True

    # -- reader state (pyscard) ---------------------------------------------

    def _context(self):
        s = _scard()
        if self._ctx is None:
            rv, ctx = s.SCardEstablishContext(s.SCARD_SCOPE_USER)
            if rv != s.SCARD_S_SUCCESS:
                return None
            self._ctx = ctx
        return self._ctx

    def _release_ctx(self):
        if self._ctx is not None:
            _scard().SCardReleaseContext(self._ctx)
            self._ctx = None

    def _list_readers(self):
        s = _scard()
        ctx = self._context()
        if ctx is None:
            return None
        try:
            rv, readers = s.SCardListReaders(ctx, [])
        except (SystemError, UnicodeDecodeError):
            # a name read while pcscd is still writing it (a reader being
            # hot-plugged): ask again
            return None
        if rv != s.SCARD_S_SUCCESS:
            self._release_ctx()
            return None
        return readers

    def state(self, reader):
        s = _scard()
        ctx = self._context()
        if ctx is None:
            return 0
        rv, states = s.SCardGetStatusChange(ctx, 0, [(self.readers[reader], s.SCARD_STATE_UNAWARE)])
        if rv != s.SCARD_S_SUCCESS:
            self._release_ctx()
            return 0
        self._atr = bytes(states[0][2])
        return states[0][1]

    def wait(self, reader, present, timeout=20, proc=None):
        """Wait until the reader shows a card (present=True) or none."""
        s = _scard()
        want = s.SCARD_STATE_PRESENT if present else s.SCARD_STATE_EMPTY
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state(reader) & want:
                return True
            if proc is not None and proc.poll() is not None:
                return False
            time.sleep(0.02)
        return False
