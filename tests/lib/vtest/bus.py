"""A private system-like D-Bus using OUR policy file, and the people on it.

    from vtest.bus import SystemBus, BusUnavailable

    with SystemBus() as bus:              # dbus-daemon, <type>system</type>,
        bus.address                       # EXTERNAL auth, default-deny policy as
        bus.env(extra=None)               # Debian's system.conf + dbus/org.vitaled.conf
        bus.argv_as(who, argv)            # who: "root", "member" (vitaled-test-member,
        bus.popen_as(who, argv, **kw)     #   in vitaled-clients), "outsider"
        bus.run_as(who, argv, **kw)       #   (vitaled-test-outsider), "vitaled"
        bus.python_as(who, code, *args)   # /usr/bin/python3 -c code as who → (rc, out, err)
        bus.readable(path)                # a copy of a file of the tree the other
                                          #   users can read (the clone may be private)
        bus.call_as(who, path, iface, method, *args)
                                          # one call as who → {"ok": value} | {"error": name}
        bus.connection()                  # python-dbus connection of this (root) process
        d = bus.start_vitaled(conf, env=None, user="vitaled")
                                          # vtest.daemon.Daemon on this bus, started
    # torn down here, at exit, on SIGTERM, and with the test (PR_SET_PDEATHSIG)

    with bus_and_pcsc() as (bus, h):      # and a vtest.pcsc.Pcsc the daemon's user
        ...                               # reaches; the test skips where either
                                          # cannot run

SystemBus(policy=xml) adds those <policy> elements after ours (a test's
other services).  SystemBus(permissive=True) adds, after our policy, a test-only policy that
lets everybody talk to org.vitaled: it shows the daemon's own caller check
(it must refuse outsiders even when a bus policy is missing or too loose).

Needs root (setpriv, users and groups); BusUnavailable otherwise.
The user "vitaled" and the group "vitaled-clients" are created when
missing (as the package's sysusers.d file would), and so are two test
users, a member of the group and an outsider: dbus-daemon refuses
connections from uids it cannot look up, and takes groups from the group
database.
"""
import contextlib
import grp
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from . import daemon as _daemon
from .paths import builddir
from .pcsc import Pcsc, HarnessUnavailable
from .proc import Service, kill, on_exit, pdeathsig as _pdeathsig

SRCDIR = os.environ.get("top_srcdir") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
POLICY = os.path.join(SRCDIR, "dbus", "org.vitaled.conf")
PYTHON = "/usr/bin/python3"
LIBDIR = os.path.join(SRCDIR, "tests", "lib")

CLIENT_GROUP = "vitaled-clients"
DAEMON_USER = "vitaled"
MEMBER = "vitaled-test-member"
OUTSIDER = "vitaled-test-outsider"
WHO = ("root", "member", "outsider", "vitaled")


class BusUnavailable(Exception):
    """The private bus or the test identities cannot be set up here."""


def _retry(argv):
    # useradd/groupadd fail while another test holds /etc/passwd's lock.
    for _ in range(50):
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode in (0, 9):  # 9: already exists (a parallel test made it)
            return
        time.sleep(0.1)
    raise BusUnavailable("%s failed: %s" % (" ".join(argv), r.stderr.strip()))


def _ensure_user(name, *extra):
    try:
        pwd.getpwnam(name)
    except KeyError:
        _retry(["useradd", "--system", "--user-group", "--no-create-home",
                "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"]
               + list(extra) + [name])


def ensure_identities():
    """The daemon's user, the client group, a member and an outsider."""
    if os.geteuid() != 0:
        raise BusUnavailable("needs root (setpriv, test users)")
    try:
        grp.getgrnam(CLIENT_GROUP)
    except KeyError:
        _retry(["groupadd", "--system", CLIENT_GROUP])
    _ensure_user(DAEMON_USER)
    _ensure_user(MEMBER, "--groups", CLIENT_GROUP)
    _ensure_user(OUTSIDER)
    if MEMBER not in grp.getgrnam(CLIENT_GROUP).gr_mem:
        _retry(["usermod", "--append", "--groups", CLIENT_GROUP, MEMBER])
    if OUTSIDER in grp.getgrnam(CLIENT_GROUP).gr_mem:
        raise BusUnavailable("%s is in %s: fix the test machine" % (OUTSIDER, CLIENT_GROUP))


def uid_of(who):
    return 0 if who == "root" else pwd.getpwnam(
        {"member": MEMBER, "outsider": OUTSIDER, "vitaled": DAEMON_USER}[who]).pw_uid


def client_gid():
    return grp.getgrnam(CLIENT_GROUP).gr_gid


def _in_tree(path):
    path = os.path.realpath(path)
    return any(os.path.commonpath([path, os.path.realpath(top)]) == os.path.realpath(top)
               for top in (SRCDIR, builddir()))


def _refuse_tree_files(argv):
    """A command run as another user must not open a file of the tree: the
    clone may be private (a 0700 home).  setpriv still holds root's
    capabilities when it execs the program, so a built binary may be
    argv[0]; a script is opened by its interpreter as the user: pass
    SystemBus.readable(path) instead.  Checked here so that a test that
    would fail only in a private clone fails everywhere."""
    for i, a in enumerate(argv):
        if not isinstance(a, str) or os.sep not in a or not os.path.isfile(a) \
                or not _in_tree(a):
            continue
        if i == 0:
            with open(a, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    continue
        raise ValueError("%s is in the tree, which another user may not read: "
                         "use SystemBus.readable()" % a)


BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <!-- The default policy of Debian's system bus (system.conf). -->
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
  <include>{policy}</include>
  {extra}
</busconfig>
"""

# Test-only: lets anybody call org.vitaled, to exercise the daemon's own check.
PERMISSIVE = """<include>{path}</include>"""
PERMISSIVE_POLICY = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy context="default">
    <allow send_destination="org.vitaled"/>
    <allow receive_sender="org.vitaled"/>
  </policy>
</busconfig>
"""


class SystemBus(Service):
    def __init__(self, permissive=False, policy=""):
        self.permissive = permissive
        self.policy = policy
        self.dir = None
        self.proc = None
        self.address = None
        self.daemons = []
        self._old_term = None
        self._conn = None

    # -- lifecycle -----------------------------------------------------------

    def start(self):
        if not shutil.which("dbus-daemon") or not shutil.which("setpriv"):
            raise BusUnavailable("dbus-daemon or setpriv not installed")
        ensure_identities()
        self._old_term = on_exit(self.stop)
        self.dir = tempfile.mkdtemp(prefix="vtest-bus-")
        os.chmod(self.dir, 0o755)  # other users reach the socket
        socket = os.path.join(self.dir, "system_bus_socket")
        extra = ""
        if self.permissive:
            path = os.path.join(self.dir, "permissive.conf")
            with open(path, "w") as f:
                f.write(PERMISSIVE_POLICY)
            extra = PERMISSIVE.format(path=path)
        extra += self.policy
        conf = os.path.join(self.dir, "bus.conf")
        with open(conf, "w") as f:
            f.write(BUS_CONF.format(socket=socket, policy=POLICY, extra=extra))
        self.log_path = os.path.join(self.dir, "bus.log")
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["dbus-daemon", "--config-file=" + conf, "--nofork", "--nopidfile",
             "--print-address=1"], stdout=subprocess.PIPE, stderr=log,
            stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig)
        log.close()
        self.address = self.proc.stdout.readline().decode().strip()
        if not self.address:
            raise BusUnavailable("dbus-daemon did not start: %s" % self.log())

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        for d in self.daemons:
            d.stop()
            if not os.environ.get("VTEST_KEEP"):
                shutil.rmtree(d.dir, ignore_errors=True)
        self.daemons = []
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - already gone
                pass
            self._conn = None
        if self.proc:
            kill(self.proc)
            self.proc = None
        if self._old_term is not None:
            signal.signal(signal.SIGTERM, self._old_term)
            self._old_term = None
        if self.dir and not os.environ.get("VTEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def env(self, extra=None):
        e = dict(os.environ)
        e["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        e.pop("DBUS_SESSION_BUS_ADDRESS", None)
        e["PYTHONPATH"] = self.readable_lib()
        e.update(extra or {})
        return e

    def readable_lib(self):
        """tests/lib as a copy every user can read, for PYTHONPATH: a client
        run as the member or the outsider may import vtest (a private clone
        would refuse it the tree's own)."""
        top = os.path.join(self.dir, "tree", os.path.relpath(LIBDIR, SRCDIR))
        if not os.path.isdir(os.path.join(top, "vtest")):
            pkg = os.path.join(LIBDIR, "vtest")
            for name in sorted(os.listdir(pkg)):
                if name.endswith(".py"):
                    self.readable(os.path.join(pkg, name))
        return top

    # -- identities ------------------------------------------------------------

    @staticmethod
    def argv_as(who, argv):
        if who == "root":
            return list(argv)
        _refuse_tree_files(argv)
        pw = pwd.getpwuid(uid_of(who))
        return ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
                "--init-groups", "--"] + list(argv)

    def popen_as(self, who, argv, **kw):
        kw.setdefault("env", self.env())
        kw.setdefault("preexec_fn", _pdeathsig)
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.Popen(self.argv_as(who, argv), **kw)

    def run_as(self, who, argv, timeout=60, **kw):
        kw.setdefault("env", self.env())
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(self.argv_as(who, argv), capture_output=True, text=True,
                              timeout=timeout, **kw)

    def readable(self, path):
        """A copy of path (a script of the source tree) that every user can
        read, in this bus's directory: a clone may sit in a private
        directory (a 0700 home) where the member and the outsider cannot
        open what they are to run.  Same bytes, same tree-relative path."""
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(SRCDIR))
        if rel.startswith(os.pardir):
            raise ValueError("%s is not in the source tree" % path)
        top = os.path.join(self.dir, "tree")
        dst = os.path.join(top, rel)
        d = os.path.dirname(dst)
        os.makedirs(d, exist_ok=True)
        while d != self.dir:  # whatever the umask
            os.chmod(d, 0o755)
            d = os.path.dirname(d)
        shutil.copyfile(path, dst)
        os.chmod(dst, 0o755 if os.access(path, os.X_OK) else 0o644)
        return dst

    def python_as(self, who, code, *args, timeout=60):
        r = self.run_as(who, [PYTHON, "-c", code] + [str(a) for a in args], timeout=timeout,
                        cwd="/")
        return r.returncode, r.stdout, r.stderr

    def call_as(self, who, path, iface, method, *args, timeout=60):
        """One method call on org.vitaled as who: {"ok": value} or {"error": name, "message": m}."""
        rc, out, err = self.python_as(who, CALL_CODE, path, iface, method, json.dumps(args),
                                      timeout=timeout)
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"error": "client-crashed", "message": "rc %d: %s %s" % (rc, out, err)}

    def connection(self):
        """python-dbus connection of the test process (root)."""
        if self._conn is None:
            import dbus
            self._conn = dbus.bus.BusConnection(self.address)
        return self._conn

    # -- the daemon under test ---------------------------------------------------

    def start_vitaled(self, conf, env=None, user="vitaled", args=(), wait_ready=True):
        """vitaled on this bus as user; its work dir is readable by that user."""
        work = tempfile.mkdtemp(prefix="vtest-vitaled-")
        os.chmod(work, 0o755)
        d = _daemon.Daemon(conf, env=self.env(env), workdir=work, args=args,
                           wrapper=self.argv_as(user, []))
        if user != "root":
            pw = pwd.getpwuid(uid_of(user))
            os.chown(d.state, pw.pw_uid, pw.pw_gid)
        self.daemons.append(d)
        d.start(wait_ready=wait_ready)
        return d


@contextlib.contextmanager
def bus_and_pcsc():
    """(bus, h): a SystemBus and a vtest.pcsc.Pcsc whose socket the daemon's
    user reaches, both stopped after.  Where either cannot run here, the
    whole test is skipped (TAP plan 1..0) and the process exits."""
    bus, h = SystemBus(), Pcsc()
    try:
        try:
            bus.start()
            h.start()
        except (BusUnavailable, HarnessUnavailable) as e:
            print("1..0 # SKIP %s" % e)
            sys.exit(0)
        h.share_socket()
        yield bus, h
    finally:
        bus.stop()
        h.stop()


# Runs in the client's process (python-dbus), prints one JSON line.
CALL_CODE = r"""
import json, sys
import dbus
def plain(v):
    if isinstance(v, dbus.Dictionary) or isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (dbus.Array, list, tuple, dbus.Struct)):
        return [plain(x) for x in v]
    if isinstance(v, dbus.Boolean):
        return bool(v)
    if isinstance(v, (dbus.Byte, dbus.Int16, dbus.Int32, dbus.Int64, dbus.UInt16,
                      dbus.UInt32, dbus.UInt64)):
        return int(v)
    if isinstance(v, (dbus.String, dbus.ObjectPath)):
        return str(v)
    return v
path, iface, method, args = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
try:
    bus = dbus.SystemBus()
    obj = bus.get_object("org.vitaled", path, introspect=False)
    r = obj.get_dbus_method(method, iface)(*args, timeout=30)
    print(json.dumps({"ok": plain(r)}))
except dbus.exceptions.DBusException as e:
    print(json.dumps({"error": e.get_dbus_name(), "message": e.get_dbus_message()}))
"""
