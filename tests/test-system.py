#!/usr/bin/python3
"""System integration, checked on what `make install DESTDIR=` produces:
the file layout, the systemd unit (systemd-analyze verify and security),
sysusers, D-Bus activation (a private dbus-daemon lists the name), the udev
rules and hwdb on umockdev devices (udevadm test in a private mount
namespace), the polkit rule, and the example configuration against the
daemon's own schema."""
import atexit
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest.tap import Tap  # noqa: E402
from vtest.bus import BUS_CONF  # noqa: E402

SRC = os.path.abspath(os.environ.get("top_srcdir", "."))
BUILD = os.path.abspath(os.environ.get("top_builddir", "."))
MAX_EXPOSURE = 2.0

t = Tap()
work = tempfile.mkdtemp(prefix="vitaled-system-")
dest = os.path.join(work, "dest")
atexit.register(shutil.rmtree, work, ignore_errors=True)


def make_env():
    # A make nested in `make check` must not join the outer jobserver.
    env = dict(os.environ)
    for var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(var, None)
    return env


def make_vars(names):
    mk = os.path.join(work, "print.mk")
    with open(mk, "w") as f:
        f.write("print-vitaled-vars:\n")
        for n in names:
            f.write("\t@echo '%s=$(%s)'\n" % (n, n))
    out = subprocess.run(["make", "-s", "-C", BUILD, "-f", "Makefile", "-f", mk,
                          "print-vitaled-vars"], capture_output=True, text=True,
                         env=make_env(), timeout=120, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


DIRS = make_vars(["prefix", "sysconfdir", "bindir", "sbindir", "mandir", "docdir",
                  "systemdsystemunitdir", "sysusersdir", "dbussystemservicedir",
                  "dbuspolicydir", "udevrulesdir", "udevhwdbdir", "polkitrulesdir",
                  "vitaledconfdir", "datadir", "localstatedir", "updaterdir"])
# Defaults the sources give as macros (Makefile.am AM_CPPFLAGS).
MACROS = {"STATEDIR": DIRS["localstatedir"] + "/lib/vitaled",
          "TRUSTDIR": DIRS["sysconfdir"] + "/vitaled/trust.d",
          "CONFIGDIR": DIRS["sysconfdir"] + "/vitaled"}


def macro_value(default):
    """A default given as MACRO or MACRO "suffix" (string concatenation)."""
    name, _, suffix = default.partition(" ")
    return None if name not in MACROS else MACROS[name] + suffix.strip('"')


def inst(var, *parts):
    """Path of an installed file inside DESTDIR."""
    return os.path.normpath(dest + os.path.join(DIRS[var], *parts))


def read(path):
    with open(path) as f:
        return f.read()


def ini_values(text, key):
    return [m.group(1).strip() for m in re.finditer(r"^%s=(.*)$" % re.escape(key), text, re.M)]


# ---- install layout -----------------------------------------------------

def test_install(t):
    r = subprocess.run(["make", "-C", BUILD, "install", "DESTDIR=" + dest],
                       capture_output=True, text=True, env=make_env(), timeout=900)
    if not t.ok(r.returncode == 0, "make install DESTDIR= succeeds", r.stdout[-2000:] + r.stderr[-2000:]):
        t.bail("nothing installed to check")

    want = [
        inst("sbindir", "vitaled"),
        inst("bindir", "vitalectl"),
        inst("systemdsystemunitdir", "vitaled.service"),
        inst("sysusersdir", "vitaled.conf"),
        inst("dbussystemservicedir", "org.vitaled.service"),
        inst("udevrulesdir", "70-vitaled.rules"),
        inst("udevhwdbdir", "70-vitaled.hwdb"),
        inst("polkitrulesdir", "70-vitaled-pcscd.rules"),
        inst("vitaledconfdir", "vitaled.conf"),
        inst("vitaledconfdir", "vitaled.conf.d"),
        inst("vitaledconfdir", "trust.d"),
        inst("mandir", "man8", "vitaled.8"),
        inst("mandir", "man5", "vitaled.conf.5"),
        inst("mandir", "man1", "vitalectl.1"),
        inst("docdir", "admin.md"),
        inst("updaterdir", "vitaled-trust-update"),
        inst("systemdsystemunitdir", "vitaled-trust-update.service"),
        inst("systemdsystemunitdir", "vitaled-trust-update.timer"),
        inst("mandir", "man8", "vitaled-trust-update.8"),
    ]
    if os.path.exists(os.path.join(SRC, "dbus", "org.vitaled.conf")):
        want.append(inst("dbuspolicydir", "org.vitaled.conf"))
    missing = [p[len(dest):] for p in want if not os.path.exists(p)]
    t.ok(not missing, "every system file is installed where configured", "missing: %s" % missing)

    t.ok(os.access(inst("sbindir", "vitaled"), os.X_OK), "the daemon is installed executable")
    t.ok(os.access(inst("updaterdir", "vitaled-trust-update"), os.X_OK),
         "vitaled-trust-update is installed executable")

    roots = [DIRS[v] for v in ("prefix", "sysconfdir", "systemdsystemunitdir",
                               "udevrulesdir", "dbuspolicydir")]
    roots.append(os.path.normpath(DIRS["udevhwdbdir"]))
    stray, leaks = [], []
    for base, _dirs, files in os.walk(dest):
        for name in files:
            path = os.path.join(base, name)
            rel = path[len(dest):]
            if not any(rel == r or rel.startswith(r.rstrip("/") + "/") for r in roots):
                stray.append(rel)
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if dest.encode() in data or (BUILD.encode() in data and b"\0" not in data):
                leaks.append(rel)
    t.ok(not stray, "nothing is installed outside the configured directories", "stray: %s" % stray)
    t.ok(not leaks, "no installed text file names DESTDIR or the build directory",
         "leaks: %s" % leaks)

    unit = read(inst("systemdsystemunitdir", "vitaled.service"))
    t.eq(ini_values(unit, "ExecStart"), [os.path.join(DIRS["sbindir"], "vitaled")],
         "the unit starts the installed daemon")
    unit = read(inst("systemdsystemunitdir", "vitaled-trust-update.service"))
    t.eq(ini_values(unit, "ExecStart"), [os.path.join(DIRS["updaterdir"], "vitaled-trust-update")],
         "the updater's unit starts the installed updater")


# ---- systemd unit ---------------------------------------------------------

def unit_for_verify(name, bindir):
    """An installed unit (and the timer beside it), with ExecStart pointing
    into DESTDIR so that systemd-analyze finds the binary it checks."""
    text = read(inst("systemdsystemunitdir", name))
    text = text.replace("ExecStart=" + DIRS[bindir], "ExecStart=" + dest + DIRS[bindir])
    d = os.path.join(work, "unit")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def analyze(t, path):
    """systemd-analyze verify and security of one unit (and its timer)."""
    name = os.path.basename(path)
    paths = [path]
    timer = path.replace(".service", ".timer")
    if os.path.exists(inst("systemdsystemunitdir", os.path.basename(timer))):
        shutil.copy(inst("systemdsystemunitdir", os.path.basename(timer)), timer)
        paths.append(timer)
    env = dict(os.environ, MANPATH=dest + DIRS["mandir"], SYSTEMD_LOG_COLOR="0")
    r = subprocess.run(["systemd-analyze", "verify"] + paths, capture_output=True,
                       text=True, env=env, timeout=120)
    t.ok(r.returncode == 0 and r.stderr == "" and r.stdout == "",
         "systemd-analyze verify %s: clean, nothing on stderr" % " ".join(map(os.path.basename, paths)),
         "rc=%d\n%s%s" % (r.returncode, r.stdout, r.stderr))

    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", path],
                       capture_output=True, text=True, env=env, timeout=120)
    m = re.search(r"Overall exposure level for %s: ([0-9.]+)" % re.escape(name), r.stdout)
    score = float(m.group(1)) if m else None
    t.diag("systemd-analyze security --offline=yes %s: exposure %s" % (name, score))
    t.ok(score is not None and score <= MAX_EXPOSURE,
         "systemd-analyze security %s: exposure %s <= %.1f" % (name, score, MAX_EXPOSURE),
         r.stdout[-3000:] + r.stderr)


def test_unit(t):
    if not shutil.which("systemd-analyze"):
        t.skip("systemd-analyze verify", "systemd-analyze not installed")
        return
    path = unit_for_verify("vitaled.service", "sbindir")
    analyze(t, path)
    unit = read(path)
    for key, want in [("Type", "notify"), ("User", "vitaled"), ("StateDirectory", "vitaled"),
                      ("ConfigurationDirectory", os.path.basename(DIRS["vitaledconfdir"])),
                      ("Restart", "on-failure"), ("NotifyAccess", "main"),
                      ("LimitCORE", "0")]:
        t.eq(ini_values(unit, key), [want], "unit: %s=%s" % (key, want))
    t.ok(ini_values(unit, "WatchdogSec"), "unit: a watchdog is set")
    wants = " ".join(ini_values(unit, "Wants")).split()
    after = " ".join(ini_values(unit, "After")).split()
    t.ok("pcscd.socket" in wants and "pcscd.socket" in after,
         "unit: wants pcscd.socket and is ordered after it")
    classes = sorted(v.split()[0] for v in ini_values(unit, "DeviceAllow"))
    t.eq(classes, ["/dev/ptmx", "/dev/uinput", "char-hidraw", "char-input", "char-pts",
                   "char-ttyACM", "char-usb_device", "char-video4linux"],
         "unit: DeviceAllow only scanners, cameras, pass-through ptys and /dev/uinput")
    t.eq(ini_values(unit, "RuntimeDirectory"), ["vitaled"],
         "unit: /run/vitaled for the pass-through links")
    t.eq(ini_values(unit, "DevicePolicy"), ["closed"], "unit: DevicePolicy=closed")
    t.eq(ini_values(unit, "IPAddressDeny"), ["any"], "unit: the daemon has no IP at all")


def test_update_unit(t):
    """vitaled-trust-update's unit and timer: the one unit with network."""
    if not shutil.which("systemd-analyze"):
        t.skip("systemd-analyze verify (updater)", "systemd-analyze not installed")
        return
    path = unit_for_verify("vitaled-trust-update.service", "updaterdir")
    analyze(t, path)
    unit = read(path)
    for key, want in [("Type", "oneshot"), ("User", "vitaled-update"),
                      ("Group", "vitaled-update"),
                      ("StateDirectory", "vitaled-trust-update"),
                      ("ReadWritePaths", "-" + MACROS["STATEDIR"] + "/trust-incoming"),
                      ("SuccessExitStatus", "10 11 12")]:
        t.eq(ini_values(unit, key), [want], "updater unit: %s=%s" % (key, want))
    t.eq(" ".join(ini_values(unit, "RestrictAddressFamilies")).split(),
         ["AF_INET", "AF_INET6", "AF_UNIX"], "updater unit: IP and Unix sockets only")
    timer = read(inst("systemdsystemunitdir", "vitaled-trust-update.timer"))
    for key, want in [("OnCalendar", "daily"), ("Persistent", "true"),
                      ("WantedBy", "timers.target")]:
        t.eq(ini_values(timer, key), [want], "timer: %s=%s" % (key, want))
    t.ok(ini_values(timer, "RandomizedDelaySec"), "timer: a randomized delay spreads the fleet")


# ---- sysusers and D-Bus activation --------------------------------------

def test_sysusers(t):
    if not shutil.which("systemd-sysusers"):
        t.skip("systemd-sysusers", "systemd-sysusers not installed")
        return
    root = os.path.join(work, "sysroot")
    os.makedirs(os.path.join(root, "etc"), exist_ok=True)
    r = subprocess.run(["systemd-sysusers", "--root=" + root, inst("sysusersdir", "vitaled.conf")],
                       capture_output=True, text=True, timeout=60)
    t.ok(r.returncode == 0, "systemd-sysusers accepts vitaled.conf", r.stderr)
    passwd = {line.split(":")[0]: line.split(":") for line in read(os.path.join(root, "etc/passwd")).splitlines()}
    group = {line.split(":")[0]: line.split(":") for line in read(os.path.join(root, "etc/group")).splitlines()}
    u = passwd.get("vitaled")
    t.ok(u and u[5] == "/var/lib/vitaled" and u[6].endswith("nologin") and int(u[2]) < 1000,
         "sysusers: system user vitaled, home /var/lib/vitaled, no login shell", u)
    t.ok("vitaled" in group and "vitaled-clients" in group,
         "sysusers: groups vitaled and vitaled-clients")
    t.ok("vitaled" in group.get("video", ["", "", "", ""])[3].split(","),
         "sysusers: vitaled is in video (cameras)")
    t.ok("vitaled" in group.get("vitaled-passthrough", ["", "", "", ""])[3].split(","),
         "sysusers: vitaled is in vitaled-passthrough (it gives that group the pass-through ports)")
    t.ok("vitaled-update" in group,
         "sysusers: group vitaled-update (vitaled-trust-update adds bundles to the drop directory)")


def test_activation(t):
    path = inst("dbussystemservicedir", "org.vitaled.service")
    text = read(path)
    unit = read(inst("systemdsystemunitdir", "vitaled.service"))
    t.eq(ini_values(text, "SystemdService"), ["vitaled.service"],
         "activation names the unit")
    t.eq(ini_values(text, "User"), ini_values(unit, "User"),
         "activation and unit run as the same user")
    if not shutil.which("dbus-daemon"):
        t.skip("dbus-daemon lists org.vitaled as activatable", "dbus-daemon not installed")
        return
    # Debian's system bus policy, our installed policy file, and the
    # installed activation directory.
    policy = inst("dbuspolicydir", "org.vitaled.conf")
    conf = os.path.join(work, "bus.conf")
    with open(conf, "w") as f:
        f.write(BUS_CONF.format(socket=os.path.join(work, "bus.sock"), policy=policy,
                                extra="<servicedir>%s</servicedir>" % os.path.dirname(path)))
    bus = subprocess.Popen(["dbus-daemon", "--config-file=" + conf, "--nofork", "--nopidfile",
                            "--print-address=1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        address = bus.stdout.readline().strip()
        if not t.ok(address, "a system-type dbus-daemon starts with the installed policy",
                    bus.stderr.read() if bus.poll() is not None else ""):
            return
        r = subprocess.run(["dbus-send", "--bus=" + address, "--print-reply",
                            "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
                            "org.freedesktop.DBus.ListActivatableNames"],
                           capture_output=True, text=True, timeout=30)
        t.ok('string "org.vitaled"' in r.stdout,
             "a system-type dbus-daemon reads the activation file and lists org.vitaled",
             r.stdout + r.stderr)
    finally:
        bus.terminate()
        bus.wait()


# ---- udev rules on umockdev devices -------------------------------------

USB = "/sys/devices/pci0000:00/0000:00:14.0/usb1/"
DEVICES = {
    # Newland FM430 in HID-POS mode (1EAB:1D10): its usb device and hidraw node
    "hidpos-usb": USB + "1-2",
    "hidpos-hidraw": USB + "1-2/1-2:1.0/0003:1EAB:1D10.0001/hidraw/hidraw0",
    # the same model in CDC-ACM serial mode (1EAB:1D06)
    "serial": USB + "1-3/1-3:1.0/tty/ttyACM0",
    # Zebra (Symbol) scanner in keyboard mode (05E0:1200)
    "wedge": USB + "1-4/1-4:1.0/0003:05E0:1200.0002/input/input7/event7",
    # a webcam (1234:5678) that only an admin's rule makes ours
    "camera": USB + "1-5/1-5:1.0/video4linux/video0",
    # an ordinary keyboard (1C4F:0002), never ours
    "keyboard": USB + "1-6/1-6:1.0/0003:1C4F:0002.0003/input/input8/event8",
    # an unknown CDC-ACM device (1A86:5678) that only an admin's hwdb entry makes ours
    "other-acm": USB + "1-7/1-7:1.0/tty/ttyACM1",
    # the wedge pass-through keyboard's node
    "uinput": "/sys/devices/virtual/misc/uinput",
}
UMOCKDEV = ["hidpos", "serial", "wedge", "camera", "other", "uinput"]

LOCAL_HWDB = "usb:v1A86p5678*\n ID_VITALED_SCANNER=1\n"
LOCAL_RULES = 'SUBSYSTEM=="video4linux", ATTRS{idVendor}=="1234", ATTRS{idProduct}=="5678", TAG+="vitaled"\n'

# Runs inside a private mount namespace, where udevadm test writes only to
# tmpfs (it creates device links in /dev and its database in /run/udev):
# /dev and /run are fresh tmpfs (/dev with the few real nodes a shell
# needs, and ptys for umockdev), /etc/udev holds a copy of the system's plus our installed files,
# /etc/group has the vitaled group; then udevadm test on each device under
# umockdev.
NS_SCRIPT = r"""
set -e
mkdir -p "$W/realdev"
mount --rbind /dev "$W/realdev"
mount -t tmpfs tmpfs /dev
for n in null zero full random urandom tty; do
	touch "/dev/$n"
	mount --bind "$W/realdev/$n" "/dev/$n"
done
mkdir /dev/pts
mount --bind "$W/realdev/pts" /dev/pts
ln -s pts/ptmx /dev/ptmx
ln -s /proc/self/fd /dev/fd
mount -t tmpfs tmpfs /run
# udev prefers /etc/systemd/hwdb/hwdb.bin: hide one, ours is /etc/udev's.
if [ -d /etc/systemd/hwdb ]; then mount -t tmpfs tmpfs /etc/systemd/hwdb; fi
mount -t tmpfs tmpfs /etc/udev
cp -a "$W/etc-udev/." /etc/udev/
mkdir -p /etc/udev/rules.d /etc/udev/hwdb.d
cp "$RULES" /etc/udev/rules.d/
cp "$HWDB" /etc/udev/hwdb.d/
if [ "$LOCAL" = 1 ]; then
	cp "$W/70-vitaled-local.hwdb" /etc/udev/hwdb.d/
	cp "$W/69-vitaled-local.rules" /etc/udev/rules.d/
fi
mount --bind "$W/group" /etc/group
systemd-hwdb update > "$OUT/hwdb.log" 2>&1
umockdev-run $UMOCKDEV_ARGS -- sh -c '
	for d in $DEVICES; do
		n=${d%%=*}; p=${d#*=}
		udevadm test --action=add "$p" > "$OUT/$n.log" 2>&1 || echo "udevadm failed: $?" >> "$OUT/$n.log"
	done'
"""


def udev_run(local):
    out = os.path.join(work, "udev-local" if local else "udev")
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ, W=work, OUT=out, LOCAL="1" if local else "0",
               RULES=inst("udevrulesdir", "70-vitaled.rules"),
               HWDB=inst("udevhwdbdir", "70-vitaled.hwdb"),
               UMOCKDEV_ARGS=" ".join("-d %s/tests/system/%s.umockdev" % (SRC, n) for n in UMOCKDEV),
               DEVICES=" ".join("%s=%s" % kv for kv in DEVICES.items()))
    unshare = ["unshare", "-m", "--propagation", "private"]
    if os.geteuid() != 0:
        unshare.insert(1, "-Ur")
    r = subprocess.run(unshare + ["sh", "-c", NS_SCRIPT], env=env, capture_output=True,
                       text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("namespace setup failed: %s%s" % (r.stdout, r.stderr))
    logs = {n: read(os.path.join(out, n + ".log")) for n in DEVICES}
    return read(os.path.join(out, "hwdb.log")), logs


def udev_props(log):
    """The property dump udevadm test prints at the end: KEY=value lines after
    its simulation note (systemd 252), or indented under "Properties:"
    (systemd 257).  {} when neither is found, and a dump without DEVPATH is
    not one: callers check for {} (see understood())."""
    lines = log.splitlines()
    if "Properties:" in lines:
        start = len(lines) - lines[::-1].index("Properties:")
        dump = []
        for line in lines[start:]:
            if not line.startswith("  "):
                break
            dump.append(line.strip())
    else:
        tail = log.rsplit("some values may be different, or not available at a simulation run.", 1)
        dump = tail[1].splitlines() if len(tail) == 2 else []
    props = dict(line.split("=", 1) for line in dump if "=" in line)
    return props if "DEVPATH" in props else {}


def understood(t, props, what):
    """A check that something is absent means nothing when the dump was not
    read: that is a failed point of its own."""
    if props:
        return True
    t.ok(False, "%s: udevadm test's property dump understood" % what)
    return False


def udev_problems(log):
    # fido_id (a stock Debian rule) cannot read umockdev's environment and
    # says "Invalid argument"; systemd 257 in a container (CI's Debian 13
    # run) whose /run this test hides says "Running in a pid namespace,
    # assuming unknown container manager.": neither is a rules problem.
    return [line for line in log.splitlines()
            if re.search(r"invalid|unknown", line, re.I) and "fido_id" not in line
            and "assuming unknown container manager" not in line]


def last_group(log):
    m = re.findall(r"^\S+: (\S+):\d+ GROUP (\d+)$", log, re.M)
    return m[-1] if m else None


def check_device(t, logs, gid, name, source, tag_label):
    log = logs[name]
    props = udev_props(log)
    if source is None:
        if not understood(t, props, "%s: %s" % (tag_label, name)):
            return
        t.ok(":vitaled:" not in props.get("TAGS", "") and "VITALED_SOURCE" not in props
             and (last_group(log) or ("", ""))[1] != gid,
             "%s: %s is left alone" % (tag_label, name),
             "props: %s" % {k: v for k, v in props.items() if "VITALED" in k or k == "TAGS"})
        return
    rules = os.path.basename(inst("udevrulesdir", "70-vitaled.rules"))
    group = last_group(log)
    ok = (":vitaled:" in props.get("TAGS", "") and props.get("VITALED_SOURCE") == source
          and group is not None and group[0].endswith(rules) and group[1] == gid
          and re.search(r"^\S+: \S+70-vitaled\.rules:\d+ MODE 0660$", log, re.M))
    t.ok(ok, "%s: %s tagged vitaled, source %s, group vitaled, mode 0660" % (tag_label, name, source),
         "props: %s\nlast GROUP: %s" % (props, group))
    if name != "hidpos-usb":
        link = "/dev/vitaled/%s-%s" % (source, os.path.basename(DEVICES[name]))
        t.ok(link in props.get("DEVLINKS", "").split(), "%s: %s linked as %s" % (tag_label, name, link),
             props.get("DEVLINKS"))


def test_udev(t):
    for tool in ("udevadm", "umockdev-run", "systemd-hwdb", "unshare"):
        if not shutil.which(tool):
            t.skip("udev rules on umockdev devices", "%s not installed" % tool)
            return
    shutil.copytree("/etc/udev", os.path.join(work, "etc-udev"), symlinks=True)
    groups = read("/etc/group")
    m = re.search(r"^vitaled:[^:]*:(\d+):", groups, re.M)
    gid = m.group(1) if m else "64999"
    if not m:
        groups += "vitaled:x:%s:\n" % gid
    with open(os.path.join(work, "group"), "w") as f:
        f.write(groups)
    with open(os.path.join(work, "70-vitaled-local.hwdb"), "w") as f:
        f.write(LOCAL_HWDB)
    with open(os.path.join(work, "69-vitaled-local.rules"), "w") as f:
        f.write(LOCAL_RULES)

    for local in (False, True):
        label = "udev (with an admin's hwdb entry and rule)" if local else "udev (as shipped)"
        hwdb_log, logs = udev_run(local)
        t.ok(hwdb_log.strip() == "", "%s: systemd-hwdb update has no complaint" % label, hwdb_log)
        problems = {n: udev_problems(log) for n, log in logs.items() if udev_problems(log)}
        t.ok(not problems, "%s: udevadm test prints no Invalid/Unknown" % label, problems)
        check_device(t, logs, gid, "hidpos-usb", "hidpos", label)
        check_device(t, logs, gid, "hidpos-hidraw", "hidpos", label)
        check_device(t, logs, gid, "serial", "serial", label)
        check_device(t, logs, gid, "wedge", "wedge", label)
        check_device(t, logs, gid, "keyboard", None, label)
        check_device(t, logs, gid, "camera", "camera" if local else None, label)
        check_device(t, logs, gid, "other-acm", "serial" if local else None, label)
        for name in ("serial", "other-acm") if local else ("serial",):
            t.eq(udev_props(logs[name]).get("ID_MM_DEVICE_IGNORE"), "1",
                 "%s: ModemManager ignores %s" % (label, name))
        log = logs["uinput"]
        group = last_group(log) or ("", "")
        t.ok(group[0].endswith("/70-vitaled.rules") and group[1] == gid
             and re.search(r"^\S+: \S+70-vitaled\.rules:\d+ MODE 0660$", log, re.M)
             and understood(t, udev_props(log), "%s: uinput" % label)
             and ":vitaled:" not in udev_props(log).get("TAGS", ""),
             "%s: /dev/uinput: group vitaled, mode 0660, not a scanner" % label,
             (last_group(log), udev_props(log)))
        if not local and understood(t, udev_props(logs["other-acm"]), "%s: other-acm" % label):
            t.ok("ID_MM_DEVICE_IGNORE" not in udev_props(logs["other-acm"]),
                 "%s: an unknown serial device stays visible to ModemManager" % label)


# ---- polkit ---------------------------------------------------------------

# The real polkitd, in a private mount namespace where its rules directories
# hold only our installed rule (or nothing, as a control) and its actions
# directory pcsc-lite's two actions, on a private system-type bus; pkcheck
# asks about a process running as vitaled and one running as nobody.
POLKIT_SCRIPT = r"""
set -e
mount --bind "$RULES" /usr/share/polkit-1/rules.d
mount -t tmpfs tmpfs /etc/polkit-1/rules.d
mount --bind "$ACTIONS" /usr/share/polkit-1/actions
mount --bind "$W/passwd" /etc/passwd
mount --bind "$W/group" /etc/group
set +e
dbus-daemon --config-file="$W/polkit-bus.conf" --nofork --nopidfile --print-address=1 \
	> "$W/polkit-bus.addr" &
bus=$!
pk=
as_vitaled=
as_nobody=
trap 'kill $as_vitaled $as_nobody $pk $bus 2> /dev/null; wait' EXIT
for i in $(seq 300); do [ -s "$W/polkit-bus.addr" ] && break; sleep 0.1; done
export DBUS_SYSTEM_BUS_ADDRESS=$(head -n 1 "$W/polkit-bus.addr")
/usr/lib/polkit-1/polkitd --no-debug > "$W/polkitd.log" 2>&1 &
pk=$!
for i in $(seq 300); do
	dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
		org.freedesktop.DBus.NameHasOwner string:org.freedesktop.PolicyKit1 2> /dev/null |
		grep -q 'boolean true' && break
	sleep 0.1
done
setpriv --reuid=vitaled --regid=vitaled --clear-groups sleep 600 &
as_vitaled=$!
setpriv --reuid=nobody --regid=nogroup --clear-groups sleep 600 &
as_nobody=$!
for who in vitaled nobody; do
	eval pid=\$as_$who
	# pkcheck must see the process as its user: setpriv is still root
	# until it has dropped privileges and exec'd sleep.
	for i in $(seq 300); do
		[ "$(cat /proc/$pid/comm 2> /dev/null)" = sleep ] && break
		sleep 0.1
	done
	for action in access_pcsc access_card; do
		timeout 60 pkcheck --action-id "org.debian.pcsc-lite.$action" --process "$pid" \
			> /dev/null 2>&1
		echo "$action $who $?"
	done
done
"""

POLKIT_BUS = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


def polkit_verdicts(rules_dir):
    env = dict(os.environ, W=work, RULES=rules_dir,
               ACTIONS=os.path.join(work, "polkit-actions"))
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", POLKIT_SCRIPT],
                       env=env, capture_output=True, text=True, timeout=600)
    verdicts = {}
    for line in r.stdout.splitlines():
        fields = line.split()
        if len(fields) == 3:
            verdicts[(fields[0], fields[1])] = fields[2] == "0"
    return verdicts, r.stderr + read_or_empty(os.path.join(work, "polkitd.log"))


def read_or_empty(path):
    try:
        return read(path)
    except OSError:
        return ""


def with_user(path, line):
    text = read(path)
    name = line.split(":")[0]
    if not re.search(r"^%s:" % re.escape(name), text, re.M):
        text += line + "\n"
    return text


def test_polkit(t):
    rule = inst("polkitrulesdir", "70-vitaled-pcscd.rules")
    if os.geteuid() != 0:
        t.skip("polkit rule with polkitd", "needs root (mounts over /usr/share/polkit-1)")
        return
    for tool in ("/usr/lib/polkit-1/polkitd", "pkcheck", "dbus-daemon", "setpriv"):
        if not shutil.which(tool) and not os.access(tool, os.X_OK):
            t.skip("polkit rule with polkitd", "%s not installed (polkitd, pkexec)" % tool)
            return
    try:
        pwd.getpwnam("polkitd")
    except KeyError:
        t.skip("polkit rule with polkitd", "no polkitd user")
        return
    # The users pkcheck asks about, as the package would create them.
    with open(os.path.join(work, "passwd"), "w") as f:
        f.write(with_user("/etc/passwd", "vitaled:x:64998:64998::/var/lib/vitaled:/usr/sbin/nologin"))
    with open(os.path.join(work, "group"), "w") as f:
        f.write(with_user("/etc/group", "vitaled:x:64998:"))
    # polkitd connects after dropping to its own user: the socket must be
    # reachable by it, and work is private.
    sockdir = tempfile.mkdtemp(prefix="vitaled-polkit-")
    os.chmod(sockdir, 0o755)
    atexit.register(shutil.rmtree, sockdir, ignore_errors=True)
    with open(os.path.join(work, "polkit-bus.conf"), "w") as f:
        f.write(POLKIT_BUS % os.path.join(sockdir, "bus.sock"))
    os.makedirs(os.path.join(work, "polkit-actions"), exist_ok=True)
    shutil.copy(os.path.join(SRC, "tests", "system", "org.debian.pcsc-lite.policy"),
                os.path.join(work, "polkit-actions"))

    verdicts, log = polkit_verdicts(os.path.dirname(rule))
    for action in ("access_pcsc", "access_card"):
        t.ok(verdicts.get((action, "vitaled")) is True,
             "polkitd: %s granted to user vitaled by our rule" % action, (verdicts, log))
        t.ok(verdicts.get((action, "nobody")) is False,
             "polkitd: %s still refused to other users" % action, (verdicts, log))
    empty = os.path.join(work, "polkit-no-rules")
    os.makedirs(empty, exist_ok=True)
    verdicts, log = polkit_verdicts(empty)
    t.ok(verdicts.get(("access_pcsc", "vitaled")) is False,
         "polkitd without our rule: vitaled is refused (the rule is what grants it)",
         (verdicts, log))


# ---- example configuration and its documentation -----------------------

def schema_from_source():
    """(group, key, default) for every option the daemon declares."""
    found = []
    arrays = {}
    texts = [read(os.path.join(SRC, "daemon", "config.c")),
             read(os.path.join(SRC, "lib", "trust-update-conf.c"))]
    plugdir = os.path.join(SRC, "plugins")
    texts += [read(os.path.join(plugdir, f)) for f in sorted(os.listdir(plugdir)) if f.endswith(".c")]
    entry = r'\{ "(\w+)", VITALED_OPT_\w+, ("[^"]*"|\w+(?: "[^"]*")?)'
    # an option several plugins share is a macro of plugins.h
    shared = {m.group(1): (m.group(2), m.group(3)) for m in
              re.finditer(r"#define (\w+_OPTION)\s+" + entry, read(os.path.join(plugdir, "plugins.h")))}
    for text in texts:
        for m in re.finditer(r"struct vitaled_option (\w+)\[\] = \{(.*?)\n\};", text, re.S):
            arrays[m.group(1)] = [shared[e[2]] if e[2] else e[:2] for e in
                                  re.findall(entry + r"|\b(\w+_OPTION)\b", m.group(2))]
    core = re.findall(r'\{ "(\w+)", (\w+_options) \}', texts[0])
    groups = list(core)
    for text in texts[2:]:
        for m in re.finditer(r"VITALED_PLUGIN_DEFINE\(\s*(\w+)\s*,.*?,\s*(\w+)\s*,\s*\w+\s*,\s*\w+\s*\)",
                             text, re.S):
            groups.append((m.group(1), m.group(2)))
    for group, array in groups:
        for key, default in arrays.get(array, []):
            found.append((group, key, default.strip('"') if default.startswith('"')
                          else macro_value(default)))
    return found


def example_keys(text):
    """{(group, key): value} of the commented-out settings of the example."""
    keys, group = {}, None
    for line in text.splitlines():
        m = re.match(r"^#?\[(\w+)\]\s*$", line)
        if m:
            group = m.group(1)
            continue
        m = re.match(r"^#(\w+) = ?(.*)$", line)
        if m and group:
            keys[(group, m.group(1))] = m.group(2)
    return keys


def test_config(t):
    example = read(inst("vitaledconfdir", "vitaled.conf"))
    man = read(os.path.join(SRC, "doc", "vitaled.conf.5"))
    schema = schema_from_source()
    t.ok(len(schema) >= 10, "the daemon's option tables are found in the source (%d keys)" % len(schema))
    keys = example_keys(example)
    undocumented = [(g, k) for g, k, _ in schema if (g, k) not in keys]
    t.ok(not undocumented, "every option is in the example configuration", undocumented)
    unknown = [gk for gk in keys if gk not in {(g, k) for g, k, _ in schema}]
    t.ok(not unknown, "the example has no option the daemon lacks", unknown)
    wrong = [(g, k, keys[(g, k)], d) for g, k, d in schema
             if d is not None and (g, k) in keys and keys[(g, k)] != d]
    t.ok(not wrong, "the example shows each option's real default", wrong)
    man_missing = [(g, k) for g, k, _ in schema
                   if not re.search(r"\\fB\[%s\]\\fR" % re.escape(g), man)
                   or not re.search(r"^\.TP\n\\fB%s\\fR" % re.escape(k), man, re.M)]
    t.ok(not man_missing, "vitaled.conf(5) documents every group and key", man_missing)

    # Every setting uncommented at the value shown: the daemon must accept it.
    uncommented = re.sub(r"^#(\[\w+\]\s*)$", r"\1", example, flags=re.M)
    uncommented = re.sub(r"^#(\w+ =.*)$", r"\1", uncommented, flags=re.M)
    path = os.path.join(work, "all-keys.conf")
    with open(path, "w") as f:
        f.write(uncommented)
    vitaled = os.path.join(BUILD, "daemon", "vitaled")
    for name, conf in (("as installed", inst("vitaledconfdir", "vitaled.conf")),
                       ("with every setting uncommented", path)):
        r = subprocess.run([vitaled, "--check-config", "--config", conf],
                           capture_output=True, text=True, timeout=60)
        t.ok(r.returncode == 0, "vitaled --check-config accepts the example %s" % name,
             r.stdout + r.stderr)


def help_words(argv):
    """Commands (first word under "Commands:") and --options of a --help."""
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout
    commands, options, section = [], [], None
    for line in out.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            section = line
            continue
        if section == "Commands:" and line.startswith("  "):
            commands.append(line.split()[0])
        options += re.findall(r"(?<![\w-])--[a-z][a-z-]*", line)
    return commands, sorted(set(options))


def test_man_pages(t):
    man = read(os.path.join(SRC, "doc", "vitalectl.1"))
    tool = os.path.join(BUILD, "tools", "vitalectl")
    commands, options = help_words([tool, "--help"])
    t.ok(commands, "vitalectl --help lists commands", commands)
    missing = [c for c in commands
               if not re.search(r"^\.TP\n(\.B |\\fB)%s\b" % re.escape(c), man, re.M)]
    t.ok(not missing, "vitalectl(1) documents every command of vitalectl --help", missing)
    _, token_options = help_words([tool, "token", "verify", "--help"])
    missing = [o for o in options + token_options if o.replace("-", "\\-") not in man]
    t.ok(not missing, "vitalectl(1) documents every option of the --help texts", missing)

    man = read(os.path.join(SRC, "doc", "vitaled.8"))
    _, options = help_words([os.path.join(BUILD, "daemon", "vitaled"), "--help"])
    missing = [o for o in options if o.replace("-", "\\-") not in man]
    t.ok(options and not missing, "vitaled(8) documents every option of vitaled --help", missing)

    man = read(os.path.join(SRC, "doc", "vitaled-trust-update.8"))
    _, options = help_words([os.path.join(BUILD, "tools", "vitaled-trust-update"), "--help"])
    missing = [o for o in options if o.replace("-", "\\-") not in man]
    t.ok(options and not missing,
         "vitaled-trust-update(8) documents every option of its --help", missing)
    codes = sorted(set(int(c) for c in re.findall(r"EXIT_\w+ = (\d+)",
                                                  read(os.path.join(SRC, "tools", "trust-update.c")))))
    missing = [c for c in codes if not re.search(r"^\.B %d$" % c, man, re.M)]
    t.ok(codes and not missing, "vitaled-trust-update(8) explains every exit code", missing)


for test in (test_install, test_unit, test_update_unit, test_sysusers, test_activation, test_udev,
             test_polkit, test_config, test_man_pages):
    t.run(test)
t.done()
