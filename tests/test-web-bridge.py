#!/usr/bin/python3
"""The web bridge's host (vitaled-web-bridge) driven over its stdin/stdout
as a browser drives it, against the real daemon on a private system bus
with our policy and real pcscd + vpcd + the card emulator: the handshake,
the allow-list, readers and a card verified with the beneficiaries
vitalectl shows, refusals (origins, files, users, messages), the exit when
the browser closes the port, no personal data in the host's log; and the
Flatpak path through Debian's xdg-dbus-proxy."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))

from vtest import pki as vpki  # noqa: E402
from vtest.bridge import AllowList, Host, ORIGIN, frame, host_path  # noqa: E402
from vtest.bus import SystemBus, BusUnavailable, uid_of  # noqa: E402
from vtest.daemon import builddir, vitalectl_path  # noqa: E402
from vtest.pcsc import Pcsc, HarnessUnavailable  # noqa: E402
from vtest.proc import wait_for  # noqa: E402
from vtest.tap import Tap  # noqa: E402

CTL = vitalectl_path()
# The reference family (tests/emu/families/reference.json) as the card holds it.
PERSONAL = ["180037505612310", "282047505612471", "MARTIN", "Pierre", "Sophie", "DUBOIS",
            "1980-03-15", "1982-04-22", "MUT-0001"]
DATE = "2026-06-01"
READER_KEYS = {"path", "Id", "Name", "Kind", "State"}
CARD_KEYS = {"path", "State", "Status", "StatusReason", "HasData", "FormFactor", "Marker",
             "BeneficiaryCount", "ReadTime", "ReaderId"}


def ctl_json(bus, who, *args):
    r = bus.run_as(who, [CTL, "--json"] + list(args), env=bus.env({"TZ": "UTC"}))
    return r.returncode, (json.loads(r.stdout) if r.returncode == 0 else r.stderr)


def no_personal(t, text, what):
    found = [p for p in PERSONAL if p in text]
    t.eq(found, [], "no personal data in %s" % what)


def daemon_alive(t, bus, what):
    rc, readers = ctl_json(bus, "root", "readers")
    t.ok(rc == 0 and len(readers) == 2 and all(d.proc.poll() is None for d in bus.daemons),
         "vitaled alive and answering after %s" % what, readers)


# ---- the card, end to end ---------------------------------------------------

def test_card(t, bus, pcsc, allow):
    with Host(bus, "member", allow.dir) as h:
        hello = h.hello()
        t.eq((hello["type"], hello["protocol"]), ("hello", 1), "allowed origin: hello accepted")
        t.ok(hello["version"] and hello["daemon"] == hello["version"],
             "hello: host and daemon versions (the same tree)", hello)
        readers = h.call("getReaders")["result"]
        rc, ctl_readers = ctl_json(bus, "member", "readers")
        t.eq(sorted((r["path"], r["Id"], r["Name"], r["Kind"], r["State"]) for r in readers),
             sorted((r["path"], r["id"], r["name"], r["kind"], r["state"]) for r in ctl_readers),
             "getReaders: the readers vitalectl lists")
        t.ok(all(set(r) == READER_KEYS for r in readers),
             "getReaders: exactly the documented keys (no PassThrough/OtherCodes)", readers)
        t.eq(h.call("getCards")["result"], [], "getCards: none before the insertion")

        pcsc.insert(0, profile="card", variant="reference")
        added = h.event("card-added")
        t.ok(set(added["card"]) == CARD_KEYS, "card-added: the documented keys", added)
        done = h.event("card-changed", lambda e: e["card"]["State"] == "done")
        card = done["card"]
        t.eq((card["path"], card["Status"], card["HasData"], card["BeneficiaryCount"],
              card["FormFactor"]), (added["card"]["path"], "verified", True, 4, "card"),
             "card-changed: the same card, done, verified, 4 beneficiaries")
        r = h.event("reader-changed", lambda e: e["reader"]["State"] == "card-present")
        t.ok(set(r["reader"]) == READER_KEYS, "reader-changed: card-present, documented keys",
             r)
        cards = h.call("getCards")["result"]
        t.eq([c["path"] for c in cards], [card["path"]], "getCards: the card")

        rc, show = ctl_json(bus, "member", "show", card["path"], "--date", DATE)
        t.eq(rc, 0, "vitalectl --json show: exit 0")
        bens = h.call("getBeneficiaries", {"card": card["path"], "date": DATE})
        t.eq(bens.get("result"), show["beneficiaries"],
             "getBeneficiaries: the beneficiaries vitalectl --json show gives")
        t.eq(len(bens["result"]), 4, "getBeneficiaries: four beneficiaries")
        aff = h.call("getAffiliation", {"card": card["path"]})
        t.eq(aff.get("result"), show["affiliation"],
             "getAffiliation: the affiliation vitalectl --json show gives")
        today = h.call("getBeneficiaries", {"card": card["path"]})
        t.eq(len(today.get("result", [])), 4, "getBeneficiaries without a date: today")
        r = h.call("release", {"card": card["path"]})
        t.eq(r.get("error"), "not-supported", "release of a physical card: vitaled's not-supported")
        r = h.call("getBeneficiaries", {"card": card["path"], "date": "not a date"})
        t.eq(r.get("error"), "invalid-arguments", "a bad date: vitaled's invalid-arguments")

        pcsc.remove(0)
        gone = h.event("card-removed")
        t.eq(gone["path"], card["path"], "card-removed: its path")
        r = h.call("getBeneficiaries", {"card": card["path"], "date": DATE})
        t.eq(r.get("error"), "gone", "a pulled card: gone")
        h.close_stdin()
        t.eq(h.wait(), 0, "stdin closed: the host exits 0")
        t.ok("origin %s connected" % ORIGIN in h.log(), "the connection is logged", h.log())
        no_personal(t, h.log(), "the host's log")


def test_daemon_restart(t, bus, allow, conf, env):
    with Host(bus, "member", allow.dir) as h:
        h.hello()
        for d in list(bus.daemons):
            d.stop()
            bus.daemons.remove(d)
        e = h.event("daemon")
        t.eq(e["running"], False, "event daemon: running false when vitaled stops")
        t.eq(h.call("getReaders").get("error"), "no-daemon", "a call meanwhile: no-daemon")
        bus.start_vitaled(conf, env=env)
        e = h.event("daemon")
        t.eq(e["running"], True, "event daemon: running true when it is back")
        added = h.event("reader-added")
        t.ok(set(added["reader"]) == READER_KEYS, "reader-added after the restart", added)
        wait_for(lambda: len(h.call("getReaders").get("result", [])) == 2, timeout=30)
        t.eq(len(h.call("getReaders")["result"]), 2, "the host serves the new daemon")


# ---- refusals -------------------------------------------------------------------

def refused(t, bus, who, allow_dir, origin, what, log_has="refused"):
    with Host(bus, who, allow_dir) as h:
        r = h.hello(origin)
        rc = h.wait()
        t.ok(r.get("error") == "origin-refused" and rc == 1,
             "%s: origin-refused, exit 1" % what, (r, rc))
        t.ok(log_has in h.log(), "%s: logged" % what, h.log())
        return h.log()


def test_origins(t, bus, allow):
    log = refused(t, bus, "member", allow.dir, "https://other.example:8443",
                  "an origin not on the list")
    t.ok("https://other.example:8443 is not on the allow-list" in log,
         "the refused origin is named in the log", log)
    refused(t, bus, "member", allow.dir, "http://reception.example:8443", "an http: origin")
    refused(t, bus, "member", allow.dir, "https://other-practice.example.evil.example",
            "an allowed origin's name as a prefix")
    refused(t, bus, "member", allow.dir, "https://other-practice.example:8443",
            "an allowed origin on another port")
    for origin, what in (("https://reception.example:8443/", "a trailing slash"),
                         ("https://RECEPTION.example:8443", "upper case"),
                         ("https://reception.example:8443/page", "a path"),
                         ("https://user@reception.example:8443", "user info"),
                         ("https://reception.example:08443", "a port with a leading zero"),
                         ("https://reception.example:443", "the default port written"),
                         ("https://" + "a" * 64 + ".example", "a label over 63"),
                         ("https://" + ".".join(["abcdefghi"] * 30), "over-long"),
                         ("", "empty"), ("null", "the opaque origin null"),
                         ("https://reception.example:8443\n", "a newline")):
        log = refused(t, bus, "member", allow.dir, origin, "malformed origin (%s)" % what,
                      "malformed origin")
    t.ok("https://reception.example:8443/page" not in log, "a malformed origin is not echoed")
    with Host(bus, "member", allow.dir) as h:
        h.send({"type": "hello", "id": 1, "protocol": 1, "origin": 42})
        r = h.reply(1)
        t.ok(r.get("error") == "origin-refused" and h.wait() == 1, "an origin that is no string")
    with Host(bus, "member", allow.dir) as h:
        h.send({"type": "hello", "id": 1, "protocol": 1})
        t.ok(h.reply(1).get("error") == "origin-refused" and h.wait() == 1, "no origin at all")
    empty = AllowList([])
    refused(t, bus, "member", empty.dir, ORIGIN, "an empty allow-list allows nothing")
    empty.remove()
    refused(t, bus, "member", "/nonexistent/web.d", ORIGIN, "no allow-list directory")


def test_allow_files(t, bus):
    a = AllowList([])
    a.write("group.conf", ORIGIN + "\n", mode=0o664)
    log = refused(t, bus, "member", a.dir, ORIGIN, "a group-writable file")
    t.ok("group.conf ignored: not root-owned or writable by others" in log,
         "the group-writable file is logged as ignored", log)
    os.chmod(os.path.join(a.dir, "group.conf"), 0o646)
    refused(t, bus, "member", a.dir, ORIGIN, "a world-writable file")
    os.chmod(os.path.join(a.dir, "group.conf"), 0o644)
    os.chown(os.path.join(a.dir, "group.conf"), uid_of("member"), -1)
    refused(t, bus, "member", a.dir, ORIGIN, "a file the desktop user owns",
            "not root-owned")
    os.unlink(os.path.join(a.dir, "group.conf"))
    a.write("ok.conf", "   %s   \n" % ORIGIN)
    os.chmod(a.dir, 0o775)
    refused(t, bus, "member", a.dir, ORIGIN, "a group-writable directory", "directory")
    os.chmod(a.dir, 0o755)
    with Host(bus, "member", a.dir) as h:
        t.eq(h.hello().get("type"), "hello", "the same origin in a proper file (blanks trimmed)")
    a.write("ok.conf", "x" * 600 + "\n" + ORIGIN + "\n")
    with Host(bus, "member", a.dir) as h:
        t.eq(h.hello().get("type"), "hello", "an over-long line is skipped, the next one counts")
        h.close_stdin()
        h.wait()
        t.ok("line too long" in h.log(), "the over-long line is logged", h.log())
    os.unlink(os.path.join(a.dir, "ok.conf"))
    os.symlink("/etc/passwd", os.path.join(a.dir, "link.conf"))
    refused(t, bus, "member", a.dir, ORIGIN, "a symlink is not followed")
    a.write("other.txt", ORIGIN + "\n")
    refused(t, bus, "member", a.dir, ORIGIN, "only *.conf files count")
    a.write("http.conf", "http://reception.example:8443\n")
    refused(t, bus, "member", a.dir, "http://reception.example:8443",
            "an http: origin written in the list")
    a.remove()


def read_card(bus, pcsc, allow):
    """The reference card inserted in reader 0 and read: its path, as a
    member's page gets it."""
    pcsc.insert(0, profile="card", variant="reference")
    with Host(bus, "member", allow.dir) as m:
        m.hello()
        done = wait_for(lambda: [c for c in m.call("getCards")["result"]
                                 if c["State"] == "done"], timeout=30)
        return done[0]["path"]


def test_outsider(t, bus, pcsc, allow):
    """The bridge gives a desktop user nothing the bus would not: an
    outsider's host is accepted (the origin is fine) but every call is
    refused by the bus policy."""
    path = read_card(bus, pcsc, allow)
    with Host(bus, "outsider", allow.dir) as h:
        hello = h.hello()
        t.ok(hello.get("type") == "hello" and hello.get("daemon") is None,
             "outsider: hello accepted, no daemon version given", hello)
        for method, params in (("getReaders", None), ("getCards", None),
                               ("getBeneficiaries", {"card": path, "date": DATE}),
                               ("getAffiliation", {"card": path})):
            r = h.call(method, params)
            t.eq(r.get("error"), "access-denied", "outsider: %s access-denied" % method)
        with Host(bus, "member", allow.dir) as m:
            m.hello()
            pcsc.remove(0)
            m.event("card-removed")     # the signals are out: the outsider's too, if any
            m.call("getReaders")        # and its host has had a turn to pass them on
            h.call("getReaders")
        t.eq([e for e in h.events() if e["event"] != "daemon"], [],
             "outsider: no reader or card events reach it")
        h.close_stdin()
        t.eq(h.wait(), 0, "outsider: exit 0 on close")
        no_personal(t, h.log(), "the outsider host's log")


def test_outsider_loose_policy(t, pcsc, allow, conf, env):
    """With a bus policy that lets everybody through, vitaled's own caller
    check still refuses the outsider's data calls through the bridge."""
    with SystemBus(permissive=True) as bus:
        bus.start_vitaled(conf, env=env)
        path = read_card(bus, pcsc, allow)
        with Host(bus, "outsider", allow.dir) as h:
            h.hello()
            r = h.call("getBeneficiaries", {"card": path, "date": DATE})
            t.eq(r.get("error"), "access-denied",
                 "outsider, loose bus policy: vitaled itself refuses (access-denied)")
            t.ok("client group" in r.get("message", ""), "vitaled's own message", r)
            no_personal(t, json.dumps(r) + h.log(), "the refusal")
        pcsc.remove(0)


# ---- messages ---------------------------------------------------------------------

def test_messages(t, bus, allow):
    with Host(bus, "member", allow.dir) as h:
        h.send({"type": "call", "id": 1, "method": "getReaders"})
        r = h.reply(1)
        t.ok(r.get("error") == "protocol" and h.wait() == 1,
             "a call before the hello: protocol error, exit 1", r)
    with Host(bus, "member", allow.dir) as h:
        r = h.hello(protocol=2)
        t.ok(r.get("error") == "protocol" and h.wait() == 1, "protocol 2: refused, exit 1", r)

    with Host(bus, "member", allow.dir) as h:
        h.hello()
        cases = [
            (b"{", "malformed", "truncated JSON"),
            (b"[1, 2]", "malformed", "an array"),
            (b"null", "malformed", "null"),
            (b'{"type": "call", "id": 5, "method": "getReaders"} x', "malformed",
             "trailing bytes"),
            (b'{"type": "call", "id": 5, "method": "g\xffetReaders"}', "malformed",
             "invalid UTF-8"),
            (b"[" * 200 + b"]" * 200, "malformed", "200 levels of nesting"),
            (b'{"type": "call", "method": "getReaders"}', "malformed", "no id"),
            (b'{"type": "call", "id": "7", "method": "getReaders"}', "malformed",
             "a string id"),
            (b'{"type": "call", "id": -3, "method": "getReaders"}', "malformed",
             "a negative id"),
            (b'{"type": "call", "id": 8, "method": "GetManagedObjects"}', "unknown-method",
             "a D-Bus method name"),
            (b'{"type": "call", "id": 9, "method": "getBeneficiaries", "params": 3}',
             "invalid-arguments", "params not an object"),
            (b'{"type": "call", "id": 10, "method": "getBeneficiaries", "params": '
             b'{"card": "/org/vitaled/readers/1"}}', "invalid-arguments", "a reader's path"),
            (b'{"type": "call", "id": 11, "method": "getAffiliation", "params": '
             b'{"card": "/org/vitaled/cards/../../x"}}', "invalid-arguments", "a bad path"),
            (b'{"type": "call", "id": 15, "method": "getAffiliation", "params": '
             b'{"card": "/org/vitaled/cards/abc"}}', "invalid-arguments", "a short card id"),
            (b'{"type": "call", "id": 16, "method": "getAffiliation", "params": '
             b'{"card": "/org/vitaled/cards/' + b"0" * 32 + b'/x"}}', "invalid-arguments",
             "a path below a card's"),
            (b'{"type": "call", "id": 12, "method": "release", "params": {}}',
             "invalid-arguments", "no card"),
            (b'{"type": "call", "id": 13, "method": "getBeneficiaries", "params": '
             b'{"card": "/org/vitaled/cards/' + b"0" * 32 + b'", "date": "' + b"9" * 100
             + b'"}}', "invalid-arguments", "an over-long date"),
            (b'{"type": "hello", "id": 14, "protocol": 1, "origin": "' + ORIGIN.encode()
             + b'"}', "protocol", "a second hello"),
        ]
        for body, code, what in cases:
            h.send_raw(frame(body))
            r = h.next_reply()
            t.eq(r.get("error"), code, "%s: %s, host goes on" % (what, code))
        r = h.call("getAffiliation", {"card": "/org/vitaled/cards/" + "0" * 32})
        t.eq(r.get("error"), "gone", "a card path that names nothing: gone")
        t.eq(len(h.call("getReaders").get("result", [])), 2, "the host still answers")
        # the largest message allowed is read whole
        big = {"type": "call", "id": 99, "method": "getReaders", "pad": ""}
        big["pad"] = "x" * (64 * 1024 - len(json.dumps(big)))
        h.send(big)
        t.eq(len(h.reply(99).get("result", [])), 2, "a message of exactly 64 KiB is served")
        h.close_stdin()
        t.eq(h.wait(), 0, "closed after the bad messages: exit 0")
        t.ok(h.log().count("refused: malformed") >= 5, "malformed messages are logged", h.log())
    daemon_alive(t, bus, "malformed messages")

    with Host(bus, "member", allow.dir) as h:
        h.hello()
        h.send_raw(struct.pack("=I", 64 * 1024 + 1))
        r = h.next_reply()
        t.ok(r.get("error") == "too-large" and r.get("id") is None,
             "a message over 64 KiB: too-large", r)
        t.eq(h.wait(), 1, "over-size: exit 1")
        t.ok("over 65536 bytes" in h.log(), "over-size logged", h.log())
    with Host(bus, "member", allow.dir) as h:
        h.send_raw(struct.pack("=I", 0xffffffff))
        t.eq(h.next_reply().get("error"), "too-large", "a 4 GiB length before the hello")
        t.eq(h.wait(), 1, "4 GiB length: exit 1")
    with Host(bus, "member", allow.dir) as h:
        h.hello()
        h.send_raw(struct.pack("=I", 100) + b'{"type": "call"')
        h.close_stdin()
        t.eq(h.wait(), 1, "truncated message then stdin closed: exit 1")
        t.ok("inside a message" in h.log(), "truncated message logged", h.log())
    with Host(bus, "member", allow.dir) as h:
        h.send_raw(b"\x01\x00")
        h.close_stdin()
        t.eq(h.wait(), 1, "stdin closed inside a length: exit 1")
    with Host(bus, "member", allow.dir) as h:
        h.close_stdin()
        t.eq(h.wait(), 0, "stdin closed before any message: exit 0")
    with Host(bus, "member", allow.dir) as h:
        h.hello()
        h.close_stdin()
        t.eq(h.wait(), 0, "stdin closed after the hello (tab closed): exit 0")
    daemon_alive(t, bus, "over-size and truncated messages")


def test_args(t):
    r = subprocess.run([host_path(), "--version"], capture_output=True, text=True)
    t.ok(r.returncode == 0 and "protocol 1" in r.stdout, "--version", r.stdout)
    r = subprocess.run([host_path(), "--help"], capture_output=True, text=True)
    t.ok(r.returncode == 0 and "web.d" in r.stdout, "--help names the allow-list", r.stdout)
    # the admin's language for --help (issue 21), from the build tree's catalogue
    fr = dict(os.environ, LANG="fr_FR.UTF-8", LC_ALL="", LANGUAGE="",
              VITALED_WEB_LOCALEDIR=os.path.join(builddir(), "locale"))
    r = subprocess.run([host_path(), "--help"], capture_output=True, text=True, env=fr)
    t.ok(r.returncode == 0 and r.stdout.startswith("Utilisation : vitaled-web-bridge\n")
         and "Origines autorisées : " in r.stdout and "web.d" in r.stdout,
         "--help in French under LANG=fr_FR.UTF-8", r.stdout)
    r = subprocess.run([host_path(), "--version"], capture_output=True, text=True, env=fr)
    t.ok(r.returncode == 0 and "protocol 1" in r.stdout, "--version the same in French",
         r.stdout)


# ---- Flatpak: a client behind xdg-dbus-proxy --filter --talk=org.vitaled ----------

OTHER = "org.vitaled.test.Other"
OTHER_POLICY = """<policy user="root"><allow own="%s"/></policy>
<policy context="default"><allow send_destination="%s"/></policy>""" % (OTHER, OTHER)

# A service of another name: answers Echo(s) -> s; prints "ready" once owned.
OTHER_CODE = r"""
import sys
from gi.repository import Gio, GLib
XML = '<node><interface name="org.vitaled.test.Other"><method name="Echo">' \
      '<arg type="s" direction="in"/><arg type="s" direction="out"/></method></interface></node>'
conn = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
info = Gio.DBusNodeInfo.new_for_xml(XML).interfaces[0]
conn.register_object("/other", info,
    lambda c, s, p, i, m, args, inv: inv.return_value(GLib.Variant("(s)", (args[0],))),
    None, None)
conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
    "RequestName", GLib.Variant("(su)", (sys.argv[1], 4)), None, 0, -1, None)
print("ready", flush=True)
GLib.MainLoop().run()
"""


def start_proxy(bus, who, tmp):
    """xdg-dbus-proxy as Flatpak runs it for an app with
    --system-talk-name=org.vitaled: the process and its socket's address.
    Like Flatpak, waits for the byte it writes on --fd once it listens (it
    stops when that pipe's other end closes: kept open with the process)."""
    d = tempfile.mkdtemp(prefix="proxy-%s-" % who, dir=tmp)
    os.chown(d, uid_of(who), -1)
    sock = os.path.join(d, "bus")
    r, w = os.pipe()
    p = bus.popen_as(who, ["xdg-dbus-proxy", "--fd=%d" % w, bus.address, sock, "--filter",
                           "--talk=org.vitaled"], stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE, pass_fds=(w,))
    os.close(w)
    p.sync = os.fdopen(r, "rb")
    if p.sync.read(1) != b"x":
        raise RuntimeError("xdg-dbus-proxy: %s" % p.stderr.read().decode())
    return p, "unix:path=" + sock


def call_through(bus, who, address, dest, path, iface, method, *args):
    code = (r"""
import json, sys
import dbus
bus = dbus.bus.BusConnection(sys.argv[1])
try:
    r = bus.get_object(sys.argv[2], sys.argv[3], introspect=False).get_dbus_method(
        sys.argv[5], sys.argv[4])(*json.loads(sys.argv[6]), timeout=30)
    print(json.dumps({"ok": str(r)[:40]}))
except dbus.exceptions.DBusException as e:
    print(json.dumps({"error": e.get_dbus_name()}))
""")
    r = bus.run_as(who, ["/usr/bin/python3", "-c", code, address, dest, path, iface, method,
                         json.dumps(list(args))], cwd="/")
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": "client-crashed: %s %s" % (r.stdout, r.stderr)}


def test_flatpak(t, pcsc, allow, conf, env):
    if not shutil.which("xdg-dbus-proxy"):
        t.ok(False, "xdg-dbus-proxy is installed (scripts/deps.sh)")
        return
    tmp = tempfile.mkdtemp(prefix="vtest-flatpak-")
    os.chmod(tmp, 0o755)
    procs = []
    try:
        with SystemBus(policy=OTHER_POLICY) as bus:
            bus.start_vitaled(conf, env=env)
            other = bus.popen_as("root", ["/usr/bin/python3", "-c", OTHER_CODE, OTHER],
                                 stdout=subprocess.PIPE, cwd="/")
            procs.append(other)
            t.eq(other.stdout.readline().strip(), b"ready", "another service on the bus")
            direct = call_through(bus, "member", bus.address, OTHER, "/other", OTHER,
                                  "Echo", "hi")
            t.eq(direct, {"ok": "hi"}, "without the proxy the member reaches the other name")

            proxy, address = start_proxy(bus, "member", tmp)
            procs.append(proxy)
            r = call_through(bus, "member", address, "org.vitaled", "/org/vitaled",
                             "org.vitaled.Manager1", "GetReaders")
            t.ok("ok" in r, "through the proxy: org.vitaled answers the member", r)
            r = call_through(bus, "member", address, OTHER, "/other", OTHER, "Echo", "hi")
            t.ok(r.get("error") in ("org.freedesktop.DBus.Error.ServiceUnknown",
                                    "org.freedesktop.DBus.Error.AccessDenied"),
                 "through the proxy: another name is refused (as if it did not exist)", r)
            with Host(bus, "member", allow.dir, env={"DBUS_SYSTEM_BUS_ADDRESS": address}) as h:
                h.hello()
                t.eq(len(h.call("getReaders").get("result", [])), 2,
                     "the bridge's host works through the proxy")

            proxy_o, address_o = start_proxy(bus, "outsider", tmp)
            procs.append(proxy_o)
            r = call_through(bus, "outsider", address_o, "org.vitaled", "/org/vitaled",
                             "org.vitaled.Manager1", "GetReaders")
            t.ok(r.get("error") == "org.freedesktop.DBus.Error.AccessDenied",
                 "through the proxy: an outsider is still refused", r)
            with Host(bus, "outsider", allow.dir,
                      env={"DBUS_SYSTEM_BUS_ADDRESS": address_o}) as h:
                h.hello()
                t.eq(h.call("getReaders").get("error"), "access-denied",
                     "the bridge through the outsider's proxy: access-denied")
    finally:
        for p in procs:
            p.kill()
            p.wait()
            if getattr(p, "sync", None):
                p.sync.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    t = Tap()
    t.run(test_args)
    allow = AllowList([ORIGIN, "https://other-practice.example"])
    try:
        with Pcsc() as pcsc, SystemBus() as bus:
            pcsc.share_socket()
            conf = "[Trust]\nDirectory = %s\n[General]\nEnablePlugins = pcsc\n" % vpki.trust_dir()
            env = {"PCSCLITE_CSOCK_NAME": pcsc.socket}
            bus.start_vitaled(conf, env=env)
            wait_for(lambda: len(ctl_json(bus, "root", "readers")[1]) == 2, timeout=30)
            t.run(test_card, bus, pcsc, allow)
            t.run(test_origins, bus, allow)
            t.run(test_allow_files, bus)
            t.run(test_messages, bus, allow)
            t.run(test_outsider, bus, pcsc, allow)
            t.run(test_daemon_restart, bus, allow, conf, env)
            bus.stop()
            t.run(test_outsider_loose_policy, pcsc, allow, conf, env)
            t.run(test_flatpak, pcsc, allow, conf, env)
    except (HarnessUnavailable, BusUnavailable) as e:
        t.skip("the web bridge against the daemon", str(e))
    finally:
        allow.remove()
    t.done()


if __name__ == "__main__":
    main()
