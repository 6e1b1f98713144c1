#!/usr/bin/python3
"""The daemon's side of the systemd unit (Type=notify, WatchdogSec): the
real vitaled, on a private session bus with every source plugin off,
talks to a datagram socket standing where systemd's would be.

READY=1 once started, WATCHDOG=1 keep-alives at half of WATCHDOG_USEC,
none when WATCHDOG_PID names another process, RELOADING=1 then READY=1
on SIGHUP (also when the new configuration is refused), STOPPING=1 on
SIGTERM; abstract ('@') and path sockets; a bad NOTIFY_SOCKET is logged
and does not stop the daemon."""
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest.daemon import Daemon, SessionBus, vitaled_path  # noqa: E402
from vtest.tap import Tap  # noqa: E402

t = Tap()
work = tempfile.mkdtemp(prefix="vitaled-notify-")
WATCHDOG_USEC = 200000		# keep-alive expected every 100 ms
TIMEOUT = 30			# generous: only there to avoid hangs


def conf():
    out = subprocess.run([vitaled_path(), "--list-plugins", "--plugin-dir", "/nonexistent"],
                         capture_output=True, text=True, timeout=60).stdout
    names = [line.split("\t")[0] for line in out.splitlines() if "\tbuilt-in\t" in line]
    text = "[General]\n"
    if names:
        text += "DisablePlugins = %s\n" % ", ".join(names)
    # An empty trust store of our own: nothing here reads a card.
    trust = os.path.join(work, "trust")
    os.makedirs(trust, exist_ok=True)
    return text + "[Trust]\nDirectory = %s\n" % trust


class Manager:
    """The service manager's end of $NOTIFY_SOCKET."""

    def __init__(self, abstract):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "vitaled-test-notify-%d-%s" % (os.getpid(), os.urandom(4).hex())
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = os.path.join(work, "notify-%s" % os.urandom(4).hex())
            self.sock.bind(self.address)

    def next(self, timeout=TIMEOUT):
        """The next message, or None when nothing came within timeout."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return None
        return self.sock.recv(4096).decode()

    def wait_for(self, field, timeout=TIMEOUT):
        """Messages up to and including the first one carrying field."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.next(deadline - time.monotonic())
            if msg is None:
                break
            seen.append(msg)
            if field in msg.split("\n"):
                return seen
        return seen

    def drain(self):
        msgs = []
        while True:
            msg = self.next(0)
            if msg is None:
                return msgs
            msgs.append(msg)

    def close(self):
        self.sock.close()


def start(bus, manager_address, env=None):
    e = dict(bus.env(), NOTIFY_SOCKET=manager_address, WATCHDOG_USEC=str(WATCHDOG_USEC))
    e.update(env or {})
    d = Daemon(conf(), env=e, session=True, workdir=tempfile.mkdtemp(dir=work))
    return d.start()


def test_lifecycle(t, abstract):
    kind = "abstract socket" if abstract else "path socket"
    m = Manager(abstract)
    with SessionBus() as bus:
        d = start(bus, m.address)
        try:
            msgs = m.wait_for("READY=1")
            t.ok(msgs and "READY=1" in msgs[-1].split("\n"), "%s: READY=1 once started" % kind, msgs)
            t.ok(not any("WATCHDOG=1" in x for x in msgs),
                 "%s: no keep-alive before READY=1" % kind, msgs)

            pings = [x for x in (m.next() for _ in range(3)) if x]
            t.eq(pings, ["WATCHDOG=1"] * 3, "%s: WATCHDOG=1 keep-alives follow" % kind)

            d.signal(signal.SIGHUP)
            msgs = m.wait_for("RELOADING=1")
            t.ok(msgs and "RELOADING=1" in msgs[-1].split("\n"), "%s: SIGHUP: RELOADING=1" % kind, msgs)
            msgs = m.wait_for("READY=1")
            t.ok(msgs and "READY=1" in msgs[-1].split("\n"),
                 "%s: SIGHUP: READY=1 after the reload" % kind, msgs)

            # A broken configuration is refused; the daemon is ready again
            # with the old one, and the keep-alives go on.
            with open(d.conf_path, "a") as f:
                f.write("[Tokens]\nNoSuchKey = 1\n")
            d.signal(signal.SIGHUP)
            msgs = m.wait_for("RELOADING=1") + m.wait_for("READY=1")
            t.ok(msgs and "READY=1" in msgs[-1].split("\n"),
                 "%s: a refused reload still ends with READY=1" % kind, msgs)
            msgs = m.wait_for("WATCHDOG=1")
            t.ok(msgs and msgs[-1] == "WATCHDOG=1", "%s: keep-alives go on after reloads" % kind, msgs)

            d.signal(signal.SIGTERM)
            msgs = m.wait_for("STOPPING=1")
            t.ok(msgs and "STOPPING=1" in msgs[-1].split("\n"), "%s: SIGTERM: STOPPING=1" % kind, msgs)
            status = d.proc.wait(TIMEOUT)
            t.eq(status, 0, "%s: clean exit" % kind)
            after = [x for x in m.drain() if x]
            t.ok(all(x != "WATCHDOG=1" for x in after),
                 "%s: no keep-alive after STOPPING=1" % kind, after)
        finally:
            d.stop()
            m.close()


def test_watchdog_for_another_pid(t):
    m = Manager(True)
    with SessionBus() as bus:
        # WATCHDOG_PID names another process: the keep-alives are not ours.
        d = start(bus, m.address, {"WATCHDOG_PID": "1"})
        try:
            msgs = m.wait_for("READY=1")
            t.ok(msgs and "READY=1" in msgs[-1].split("\n"), "WATCHDOG_PID of another process: READY=1", msgs)
            # Ten intervals of silence: the daemon pings every 100 ms when it should.
            extra = m.next(10 * WATCHDOG_USEC / 2 / 1e6)
            t.eq(extra, None, "WATCHDOG_PID of another process: no keep-alive")
        finally:
            d.stop()
            m.close()


def test_bad_socket(t):
    with SessionBus() as bus:
        d = Daemon(conf(), env=dict(bus.env(), NOTIFY_SOCKET="relative/socket"), session=True,
                   workdir=tempfile.mkdtemp(dir=work))
        try:
            d.start()
            t.ok(d.proc.poll() is None, "a bad NOTIFY_SOCKET does not stop the daemon")
            t.ok("service manager" in d.log(), "a bad NOTIFY_SOCKET is logged", d.log()[-2000:])
        finally:
            t.eq(d.stop(), 0, "a bad NOTIFY_SOCKET: clean exit")


t.run(test_lifecycle, True)
t.run(test_lifecycle, False)
t.run(test_watchdog_for_another_pid)
t.run(test_bad_socket)
t.done()
