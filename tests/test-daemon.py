#!/usr/bin/python3
"""The daemon core: configuration errors, plugins, idle wakeups, SIGHUP, SIGTERM.

Runs the real vitaled on a private session bus with every source plugin
disabled, so that nothing but the core is exercised."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest.daemon import Daemon, SessionBus, context_switches, vitaled_path, vitalectl_path, builddir, srcdir  # noqa: E402
from vtest.tap import Tap  # noqa: E402

t = Tap()
work = tempfile.mkdtemp(prefix="vitaled-daemon-")
plugin_dir = os.path.join(builddir(), "tests", "plugins", ".libs")


def run(args, **kw):
    return subprocess.run([vitaled_path()] + args, capture_output=True, text=True, timeout=60, **kw)


def builtin_plugins():
    out = run(["--list-plugins", "--plugin-dir", "/nonexistent"]).stdout
    return [line.split("\t")[0] for line in out.splitlines() if "\tbuilt-in\t" in line]


def write(name, text):
    path = os.path.join(work, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def pki():
    out = os.path.join(work, "pki")
    subprocess.run(["bash", os.path.join(srcdir(), "tests", "pki", "mkpki.sh"), out],
                   check=True, capture_output=True, timeout=300)
    return out


def test_config_errors(t):
    cases = [
        ("unknown key", "[Tokens]\nMaxAge = 60\nColour = blue\n", 3, "unknown key 'Colour'"),
        ("unknown group", "[Nope]\n", 1, "unknown group"),
        ("bad boolean", "[Trust]\nAllowTestCards = maybe\n", 2, "not a boolean"),
        ("out of range", "[Tokens]\nMaxAge = 5\n", 2, "out of range"),
        ("not a number", "[Chips]\nReadTimeout = 5s\n", 2, "not a whole number"),
        ("syntax error", "[Tokens]\nMaxAge 60\n", 2, "expected 'Key = Value'"),
        ("key outside a group", "MaxAge = 60\n", 1, "outside any"),
        ("unknown plugin", "[General]\nDisablePlugins = nosuch\n", 2, "no plugin is called 'nosuch'"),
    ]
    for name, text, line, msg in cases:
        path = write("bad-%s.conf" % name.replace(" ", "-"), text)
        for mode in (["--check-config"], []):
            r = run(["--config", path, "--session"] + mode,
                    env=dict(os.environ, DBUS_SESSION_BUS_ADDRESS="unix:path=/nonexistent"))
            want = "%s:%d: " % (path, line)
            t.ok(r.returncode == 78 and want in r.stderr and msg in r.stderr,
                 "%s%s: exit 78 with %s...%s" % (name, " (check)" if mode else "", want, msg),
                 "exit %d, stderr: %s" % (r.returncode, r.stderr))
    # An error in a drop-in names the drop-in.
    main = write("dropin.conf", "[Tokens]\nMaxAge = 60\n")
    bad = write("dropin.conf.d/50-local.conf", "[Tokens]\n\nClockSkew = -1\n")
    r = run(["--config", main, "--check-config"])
    t.ok(r.returncode == 78 and ("%s:3: " % bad) in r.stderr, "a drop-in error names the drop-in and its line",
         r.stderr)
    # Drop-ins are read in name order and the later value wins; a valid set passes.
    write("good.conf", "# comment\n[Tokens]\nMaxAge = 60\n; other comment\n")
    write("good.conf.d/10-a.conf", "[Tokens]\nMaxAge = 90\n")
    write("good.conf.d/20-b.conf", "[Tokens]\nMaxAge = 100\n")
    r = run(["--config", os.path.join(work, "good.conf"), "--check-config"])
    t.ok(r.returncode == 0, "a valid configuration with drop-ins passes --check-config", r.stderr)
    r = run(["--config", os.path.join(work, "missing.conf"), "--check-config"])
    t.ok(r.returncode == 78 and "cannot open" in r.stderr, "a --config file that does not exist is an error", r.stderr)
    # What cannot be read is an error, never "valid": a directory, a FIFO (without
    # blocking on it), a file whose read fails.
    fifo = os.path.join(work, "fifo.conf")
    os.mkfifo(fifo)
    for what, path, msg in (("a directory", work, "Is a directory"),
                            ("a FIFO", fifo, "not a regular file"),
                            ("a file whose read fails", "/proc/self/mem", "read error")):
        r = run(["--config", path, "--check-config"])
        t.ok(r.returncode == 78 and msg in r.stderr and "valid" not in r.stdout,
             "--check-config --config <%s>: exit 78, %s" % (what, msg), r.stdout + r.stderr)
    path = write("nul.conf", "[Tokens]\nMaxAge = 60\x00\n")
    r = run(["--config", path, "--check-config"])
    t.ok(r.returncode == 78 and ("%s:2: NUL byte at column 12" % path) in r.stderr
         and "longer" not in r.stderr, "a NUL byte is reported as one, with its line and column",
         r.stderr)
    # A group or key given twice in one file: accepted (the last wins), with a warning
    # naming both lines; a drop-in overriding the main file is not warned about.
    path = write("dup.conf", "[Tokens]\nMaxAge = 60\n[Trust]\n[Tokens]\nMaxAge = 70\n")
    r = run(["--config", path, "--check-config"])
    t.ok(r.returncode == 0 and ("%s:4: [Tokens] appears again (first at line 1)" % path) in r.stderr
         and ("%s:5: 'MaxAge' is set again in [Tokens] (first at line 2)" % path) in r.stderr,
         "a duplicate group and key are warned about with file:line", r.stderr)
    r = run(["--config", os.path.join(work, "good.conf"), "--check-config"])
    t.ok(r.returncode == 0 and "warning" not in r.stderr,
         "drop-ins overriding a key are not warned about", r.stderr)


def test_plugins(t):
    names = builtin_plugins()
    t.ok(len(names) > 0, "built-in plugins are listed", names)
    r = run(["--list-plugins", "--plugin-dir", plugin_dir])
    t.ok(re.search(r"^external\texternal\t", r.stdout, re.M) is not None, "an external plugin is found", r.stdout + r.stderr)
    t.ok("ABI version 999" in r.stderr and "not loaded" in r.stderr and "wrongabi" not in r.stdout,
         "a plugin with another ABI version is refused with a clear error", r.stderr)


def core_conf(extra=""):
    off = ", ".join(builtin_plugins())
    conf = "[General]\n"
    if off:
        conf += "DisablePlugins = %s\n" % off
    return conf + extra


def test_running_daemon(t, trust):
    with SessionBus() as bus:
        conf = core_conf("[Trust]\nDirectory = %s\n" % os.path.join(trust, "trust.d"))
        d = Daemon(conf, env=bus.env(), session=True, args=["--plugin-dir", plugin_dir])
        try:
            d.start()
            t.ok(True, "the daemon starts with no readers and reaches ready")
            t.ok(re.search(r"reader test-external: added", d.log()) is not None,
                 "the external plugin was started and announced its reader")
            r = subprocess.run([vitalectl_path(), "--session", "status"], capture_output=True,
                               text=True, env=dict(os.environ, **bus.env()), timeout=30)
            t.ok(r.returncode == 0 and "is running" in r.stdout, "vitalectl status says the daemon is up",
                 r.stdout + r.stderr)

            # Idle: nothing polls, so no thread of the daemon wakes up.
            time.sleep(1)
            before = context_switches(d.proc.pid)
            time.sleep(10)
            after = context_switches(d.proc.pid)
            t.eq(after - before, 0, "idle for 10 s: zero context switches in every thread")

            # SIGHUP with a new root: trust reloaded, state kept.
            offset = d.log_size()
            d.signal(signal.SIGHUP)
            d.wait_log(r"trust: \d+ roots", start=offset)
            t.ok(d.proc.poll() is None and "reader test-external: removed" not in d.log(),
                 "SIGHUP reloads the trust material without losing the readers")

            t.ok("takes effect at the next restart" not in d.log()[offset:],
                 "an unchanged configuration: no key is said to wait for a restart")

            # Keys read once at start: a reload says so, by name; the others apply.
            with open(d.conf_path, "a") as f:
                f.write("[serial]\nBaud = 19200\n[Tokens]\nMaxAge = 60\nReplayCacheSize = 500\n")
            offset = d.log_size()
            d.signal(signal.SIGHUP)
            d.wait_log(r"trust: \d+ roots", start=offset)
            waits = re.findall(r"config: \[(\w+)\] (\w+) changed: it takes effect at the next restart",
                               d.log()[offset:])
            t.eq(sorted(waits), [("Tokens", "ReplayCacheSize"), ("serial", "Baud")],
                 "a reload names the changed keys that take a restart (plugin options, "
                 "ReplayCacheSize), not those it applied (MaxAge)")

            # A broken configuration on SIGHUP is refused; the old one stays.
            with open(d.conf_path, "a") as f:
                f.write("[Tokens]\nMaxAge = forever\n")
            offset = d.log_size()
            d.signal(signal.SIGHUP)
            m = d.wait_log(r"reload refused", start=offset)
            t.ok(m is not None and re.search(r"%s:\d+: MaxAge" % re.escape(d.conf_path), d.log()[offset:]),
                 "a bad configuration on SIGHUP is refused with file:line")
            r = subprocess.run([vitalectl_path(), "--session", "status"], capture_output=True,
                               text=True, env=dict(os.environ, **bus.env()), timeout=30)
            t.ok(r.returncode == 0, "the daemon keeps serving after a refused reload", r.stdout + r.stderr)

            status = d.stop()
            t.eq(status, 0, "SIGTERM: clean exit with status 0")
            t.ok("shutting down" in d.log() and "reader test-external: removed" in d.log(),
                 "shutdown stops the plugins and removes their readers")
        finally:
            d.stop()


def test_state_directory(t, trust):
    """Without StateDirectory in the configuration, systemd's $STATE_DIRECTORY wins."""
    with SessionBus() as bus:
        systemd_dir = os.path.join(work, "systemd-state")
        os.makedirs(systemd_dir, exist_ok=True)
        conf = core_conf("[Trust]\nDirectory = %s\n" % os.path.join(trust, "trust.d"))
        env = dict(bus.env(), STATE_DIRECTORY=systemd_dir)
        d = Daemon(conf, env=env, session=True, state_in_conf=False)
        try:
            d.start()
            t.ok(os.path.exists(os.path.join(systemd_dir, "replay.cache")),
                 "the replay cache lives in $STATE_DIRECTORY when the configuration names none")
            t.eq(d.stop(), 0, "clean exit")
        finally:
            d.stop()
        d = Daemon(conf, env=env, session=True)
        try:
            d.start()
            t.ok(os.path.exists(os.path.join(d.state, "replay.cache")),
                 "a configured StateDirectory wins over $STATE_DIRECTORY")
        finally:
            d.stop()


t.run(test_config_errors)
t.run(test_plugins)
try:
    trust = pki()
except Exception as e:  # noqa: BLE001
    t.ok(False, "test PKI", e)
else:
    t.run(test_running_daemon, trust)
    t.run(test_state_directory, trust)
shutil.rmtree(work, ignore_errors=True)
t.done()
