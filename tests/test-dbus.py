#!/usr/bin/python3
"""org.vitaled on a private system-like bus with our policy, the real daemon
(as the vitaled user), the real pcscd with virtual cards, and clients as
root, as a member of the client group and as an outsider.

- name ownership follows the policy;
- end to end: the example client (doc/examples/vitaled-client.py, as a
  member) sees the card, waits for "verified", fetches the beneficiaries and
  finds the family the card was made from, rights open/closed on a date;
- privacy: an outsider's dbus-monitor and eavesdropper see none of the
  family's names or NIRs during the whole read (root's monitor, the positive
  control, does); nor does the daemon's log;
- access: the outsider is denied every member; root and member are served;
  the daemon checks callers itself (a loose bus policy or a wrong client
  group does not leak data); every data call is audited;
- errors: bad date, wrong signature, unknown object, read-only properties,
  not verified, still reading; legacy (unverifiable) and phone reads;
- introspection matches dbus/*.xml, and GetAll matches its types;
- losing the bus makes the daemon exit non-zero (so systemd restarts it).
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))

from vtest.tap import Tap  # noqa: E402
from vtest import pki as vpki  # noqa: E402
from vtest import family as vfam  # noqa: E402
from vtest.bus import SystemBus, bus_and_pcsc, uid_of  # noqa: E402
from vtest.proc import wait_for  # noqa: E402

SRCDIR = os.environ.get("top_srcdir") or os.path.dirname(HERE)
CLIENT = os.path.join(SRCDIR, "doc", "examples", "vitaled-client.py")
PY = "/usr/bin/python3"
CARD1 = "org.vitaled.Card1"
MANAGER1 = "org.vitaled.Manager1"
DENIED = "org.freedesktop.DBus.Error.AccessDenied"
DATE = "2027-06-01"

t = Tap()
REF = vfam.load("reference")
LEGACY = vfam.load("legacy")
SECRETS = vfam.secrets(REF) + vfam.secrets(LEGACY)


def conf(extra=""):
    return ("[General]\nEnablePlugins = pcsc\n[Trust]\nDirectory = %s\n"
            "[Chips]\nReadTimeout = 30000\n%s" % (vpki.trust_dir(), extra))


def leaks(text):
    return [s for s in SECRETS if s in text]


def cards(bus):
    import dbus
    obj = bus.connection().get_object("org.vitaled", "/org/vitaled", introspect=False)
    om = dbus.Interface(obj, "org.freedesktop.DBus.ObjectManager")
    return {str(p): {k: v for k, v in i[CARD1].items()}
            for p, i in om.GetManagedObjects().items() if CARD1 in i}


def wait_card(bus, state="done", timeout=30):
    """Path and properties of the (one) card once it reaches state."""
    def check():
        for p, props in cards(bus).items():
            if props["State"] == state:
                return p, props
        return None
    return wait_for(check, timeout) or (None, {})


def wait_no_card(bus, timeout=30):
    return wait_for(lambda: not cards(bus), timeout)


def audit_lines(d):
    return [line for line in d.log().splitlines() if "audit:" in line]


# ---------------------------------------------------------------------------

def test_ownership(t, bus, d):
    import dbus
    c = bus.connection()
    owner = c.get_name_owner("org.vitaled")
    uid = c.call_blocking("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                          "GetConnectionUnixUser", "s", (owner,))
    t.eq(int(uid), uid_of("vitaled"), "org.vitaled is owned by the daemon running as user vitaled")
    code = ("import dbus,sys\n"
            "try:\n"
            "    print(dbus.SystemBus().request_name('org.vitaled', dbus.bus.NAME_FLAG_DO_NOT_QUEUE))\n"
            "except dbus.exceptions.DBusException as e:\n"
            "    print(e.get_dbus_name())\n")
    for who in ("member", "outsider"):
        rc, out, err = bus.python_as(who, code)
        t.eq(out.strip(), DENIED, "the policy refuses the name to a %s" % who)
    del dbus


def test_end_to_end_and_privacy(t, bus, h, d):
    """The example client as a member during a full read, with monitors."""
    work = d.dir
    mon_root = open(os.path.join(work, "monitor-root.txt"), "w")
    mon_out = open(os.path.join(work, "monitor-outsider.txt"), "w")
    eav_out = open(os.path.join(work, "eavesdrop-outsider.txt"), "w")
    client_out = open(os.path.join(work, "client.jsonl"), "w")
    procs = [
        bus.popen_as("root", ["dbus-monitor", "--system"], stdout=mon_root,
                     stderr=subprocess.STDOUT),
        bus.popen_as("outsider", ["dbus-monitor", "--system"], stdout=mon_out,
                     stderr=subprocess.STDOUT),
        bus.popen_as("outsider", [PY, bus.readable(os.path.join(HERE, "lib", "vtest",
                                                                 "eavesdrop.py"))],
                     stdout=eav_out, stderr=subprocess.STDOUT),
    ]
    client = bus.popen_as("member", [PY, bus.readable(CLIENT), "--json", "--once",
                                     "--until-removed", "--date", DATE], stdout=client_out,
                          stderr=subprocess.STDOUT)
    clog = os.path.join(work, "client.jsonl")
    ready = wait_for(lambda: '"ready"' in open(clog).read(), 30)
    # the eavesdropper says when it listens
    wait_for(lambda: "listening" in open(os.path.join(work, "eavesdrop-outsider.txt")).read(), 30)
    # dbus-monitor is ready once root's became a monitor (it loses its
    # name) and the outsider's fell back to eavesdropping (it got one)
    wait_for(lambda: "member=NameLost" in open(os.path.join(work, "monitor-root.txt")).read(), 30)
    wait_for(lambda: "member=NameAcquired" in open(os.path.join(work, "monitor-outsider.txt"))
             .read(), 30)
    t.ok(ready, "the example client (member) subscribed and listed the objects", open(clog).read())

    h.insert(0, "card", family="reference")
    got = wait_for(lambda: '"beneficiaries"' in open(clog).read() or
                   '"error"' in open(clog).read(), 30)
    # more personal data on the bus while everybody listens
    r = bus.call_as("member", wait_card(bus)[0] or "/", CARD1, "GetAffiliation")
    t.ok("ok" in r and r["ok"].get("CardSerial") == REF["card"]["serial"]["card"],
         "member: GetAffiliation gives the card's affiliation", r)
    h.remove(0)
    try:
        client.wait(30)
    except subprocess.TimeoutExpired:
        client.kill()
        client.wait()
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for f in (mon_root, mon_out, eav_out, client_out):
        f.close()

    events = [json.loads(line) for line in open(clog) if line.startswith("{")]
    kinds = [e["event"] for e in events]
    verdict = next((e for e in events if e["event"] == "verdict"), {})
    t.ok(got and verdict.get("status") == "verified" and verdict.get("form") == "card"
         and verdict.get("marker") == "production" and verdict.get("count") == 4
         and verdict.get("has_data") is True,
         "client: Card1 seen, verified card, production, 4 beneficiaries", events)
    ben = next((e for e in events if e["event"] == "beneficiaries"), {})
    diffs = vfam.compare(ben.get("beneficiaries", []), vfam.beneficiaries(REF, DATE))
    t.ok(ben and not diffs, "client: the beneficiaries are the reference family with its "
         "rights on %s" % DATE, "\n".join(diffs) or events)
    t.ok(all(b.get("Verified") is True for b in ben.get("beneficiaries", [])) and ben,
         "client: every beneficiary is marked verified")
    t.ok("removed" in kinds and kinds.index("removed") > kinds.index("verdict"),
         "client: the card's removal is seen (InterfacesRemoved)", kinds)

    root_text = open(os.path.join(work, "monitor-root.txt"), errors="replace").read()
    out_text = open(os.path.join(work, "monitor-outsider.txt"), errors="replace").read()
    eav_text = open(os.path.join(work, "eavesdrop-outsider.txt"), errors="replace").read()
    nirs = [b["nir"] for b in REF["beneficiaries"] if b.get("nir")]
    t.ok(all(n in root_text for n in nirs),
         "positive control: root's monitor sees the NIRs go by in the member's replies")
    t.ok(not leaks(out_text), "outsider's dbus-monitor saw no name, NIR or birth date",
         leaks(out_text))
    t.ok("BecomeMonitor: %s" % DENIED in eav_text and "match type='signal': accepted" in eav_text
         and "match sender='org.vitaled': accepted" in eav_text
         and "match eavesdrop=true: " in eav_text,
         "the outsider listened to every signal and tried to eavesdrop and to become a "
         "monitor (both refused by the bus)", eav_text[:2000])
    t.ok(not leaks(eav_text) and "listening" in eav_text,
         "outsider's eavesdropper (eavesdrop=true match rules) saw no personal data",
         leaks(eav_text) or eav_text[-2000:])
    t.ok("sender=org.vitaled" not in eav_text and "from :" not in eav_text.replace(
         "from :1.0", ""), "outsider receives nothing at all from org.vitaled", eav_text[-2000:])
    t.ok(not leaks(d.log()), "the daemon's log holds no personal data", leaks(d.log()))

    # One signal says the read is over and how it went.
    blocks = re.split(r"\n(?=\S)", root_text)
    done = [b for b in blocks if "member=PropertiesChanged" in b and 'string "done"' in b
            and "/org/vitaled/cards/" in b]
    t.ok(done and all('string "verified"' in b and 'string "BeneficiaryCount"' in b
                      for b in done),
         "the PropertiesChanged that says State=done also carries Status=verified "
         "(a client reacts within one event)", done)
    card_path = ben.get("path", "?")
    sigs = [("added" if "member=InterfacesAdded" in b else "changed")
            for b in blocks if ("member=PropertiesChanged" in b and "path=%s;" % card_path in b)
            or ("member=InterfacesAdded" in b and 'object path "%s"' % card_path in b)]
    t.eq(sigs, ["added", "changed"], "coalesced: the card was announced once, then one "
         "PropertiesChanged took it from reading to its verdict")
    pc = [b for b in blocks if "member=PropertiesChanged" in b or "member=InterfacesAdded" in b]
    t.ok(pc and not any(leaks(b) for b in pc), "no personal data in any signal")
    a = [line for line in audit_lines(d) if "uid %d " % uid_of("member") in line]
    t.ok(any("GetBeneficiaries on /org/vitaled/cards/" in line and 'comm "python3": released' in line
             for line in a) and any("GetAffiliation" in line for line in a),
         "audit: the member's releases are logged with uid, pid, command and card", a)


def test_access(t, bus, h, d):
    h.insert(0, "card", family="reference")
    path, props = wait_card(bus)
    t.ok(path and props.get("Status") == "verified", "reference card verified again")
    path = path or "/org/vitaled/cards/0"
    before = len(audit_lines(d))
    for who in ("root", "member"):
        r = bus.call_as(who, path, CARD1, "GetBeneficiaries", "")
        t.ok("ok" in r and [b["FirstName"] for b in r["ok"]] ==
             [b["first_name"] for b in REF["beneficiaries"]],
             "%s: GetBeneficiaries(today) returns the family" % who, r)
        r = bus.call_as(who, path, CARD1, "GetAffiliation")
        t.ok("ok" in r and r["ok"]["Regime"] == REF["card"]["regime"]
             and r["ok"]["Caisse"] == REF["card"]["caisse"]
             and r["ok"]["Centre"] == REF["card"]["centre"]
             and r["ok"]["ValidUntil"] == vfam.iso(REF["card"]["valid_until"]),
             "%s: GetAffiliation returns régime, caisse, centre, validity" % who, r)
        r = bus.call_as(who, path, CARD1, "Release")
        t.eq(r.get("error"), "org.vitaled.Error.NotSupported",
             "%s: Release of a physical card is refused (it lives until pulled)" % who)
        r = bus.call_as(who, "/org/vitaled", MANAGER1, "GetCards")
        t.eq(r.get("ok"), [path], "%s: Manager1.GetCards lists the card" % who)
    for date in ("2023-06-01", "2028-06-01"):
        r = bus.call_as("member", path, CARD1, "GetBeneficiaries", date)
        diffs = vfam.compare(r.get("ok", []), vfam.beneficiaries(REF, date))
        t.ok("ok" in r and not diffs, "rights on %s as the family file says (open/closed)" % date,
             "\n".join(diffs) or r)
    calls = [(path, CARD1, "GetBeneficiaries", ""), (path, CARD1, "GetAffiliation"),
             (path, CARD1, "Release"), ("/org/vitaled", MANAGER1, "GetCards"),
             ("/org/vitaled", MANAGER1, "GetReaders"),
             ("/org/vitaled", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects"),
             (path, "org.freedesktop.DBus.Properties", "GetAll", CARD1),
             (path, "org.freedesktop.DBus.Introspectable", "Introspect")]
    for c in calls:
        r = bus.call_as("outsider", *c)
        t.eq(r.get("error"), DENIED, "outsider: %s.%s denied" % (c[1].split(".")[-1], c[2]))
    after = audit_lines(d)[before:]
    r = bus.run_as("member", ["sh", bus.readable(os.path.join(SRCDIR, "doc", "examples",
                                                              "busctl.sh")), DATE])
    t.ok(r.returncode == 0 and "/org/vitaled/readers/1" in r.stdout
         and 's "verified"' in r.stdout and REF["card"]["serial"]["card"] in r.stdout
         and all(b["first_name"] in r.stdout for b in REF["beneficiaries"]),
         "doc/examples/busctl.sh (busctl and gdbus) shows readers, the card and the family "
         "to a member", r.stdout[-3000:] + r.stderr[-2000:])
    t.ok(len([x for x in after if x.endswith(": released")]) == 6 and
         len([x for x in after if x.endswith(": NotSupported")]) == 2 and
         not any("uid %d " % uid_of("outsider") in x for x in after),
         "audit: 6 releases and 2 refused Release (root, member); the outsider was "
         "stopped by the bus before reaching the daemon", after)
    t.ok(not leaks("\n".join(after)), "audit lines carry no personal data")
    h.remove(0)
    wait_no_card(bus)


def test_errors(t, bus, h, d):
    h.insert(0, "card", family="reference")
    path, props = wait_card(bus)
    for bad in ("2027-13-01", "2027-02-30", "27-06-01", "tomorrow"):
        r = bus.call_as("member", path, CARD1, "GetBeneficiaries", bad)
        t.eq(r.get("error"), "org.vitaled.Error.InvalidArguments", "bad date %r refused" % bad)
    r = bus.call_as("member", path, CARD1, "GetBeneficiaries", 3)
    t.eq(r.get("error"), "org.freedesktop.DBus.Error.InvalidArgs", "wrong signature refused")
    # Every method, the standard ones too, checks its input signature.
    props = "org.freedesktop.DBus.Properties"
    for c in (("/org/vitaled", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", "x"),
              (path, "org.freedesktop.DBus.Introspectable", "Introspect", "x"),
              ("/", "org.freedesktop.DBus.Introspectable", "Introspect", 1),
              (path, props, "GetAll"), (path, props, "GetAll", CARD1, "x"),
              (path, props, "Get", CARD1), (path, props, "Get", CARD1, 7),
              ("/org/vitaled", MANAGER1, "GetCards", "x"),
              (path, CARD1, "GetAffiliation", "x"), (path, CARD1, "GetBeneficiaries")):
        r = bus.call_as("member", *c)
        t.eq(r.get("error"), "org.freedesktop.DBus.Error.InvalidArgs",
             "%s.%s%r: InvalidArgs" % (c[1].split(".")[-1], c[2], tuple(c[3:])))
    r = bus.call_as("member", "/org/vitaled", "org.freedesktop.DBus.ObjectManager",
                    "GetManagedObjects")
    t.ok(path in r.get("ok", {}), "GetManagedObjects without arguments still answers", r)
    r = bus.call_as("member", "/org/vitaled/cards/" + "0" * 32, CARD1, "GetAffiliation")
    t.eq(r.get("error"), "org.freedesktop.DBus.Error.UnknownObject", "unknown card: UnknownObject")
    r = bus.run_as("root", ["busctl", "--system", "set-property", "org.vitaled", path or "/",
                            CARD1, "Status", "s", "verified"])
    t.ok(r.returncode != 0 and "org.vitaled.Card1.Status is read-only" in r.stderr,
         "Properties.Set reaches vitaled, which says every property is read-only", r.stderr)
    r = bus.call_as("member", path, "org.freedesktop.DBus.Properties", "Get", CARD1, "Nope")
    t.eq(r.get("error"), "org.freedesktop.DBus.Error.UnknownProperty", "unknown property")
    h.remove(0)
    wait_no_card(bus)

    h.insert(0, "card", variant="wrong-hash", family="reference")
    path, props = wait_card(bus)
    t.ok(props.get("Status") == "forged" and not props.get("HasData")
         and int(props.get("BeneficiaryCount", 1)) == 0,
         "forged card: Status forged, HasData false, no count", props)
    for m in ("GetBeneficiaries", "GetAffiliation"):
        args = ("",) if m == "GetBeneficiaries" else ()
        r = bus.call_as("member", path, CARD1, m, *args)
        t.ok(r.get("error") == "org.vitaled.Error.NotVerified" and "forged" in r.get("message", ""),
             "forged card: %s gives NotVerified naming the verdict" % m, r)
    t.ok(any("NotVerified" in x for x in audit_lines(d)), "audit: the refusal is logged")
    h.remove(0)
    wait_no_card(bus)

    # A slow card: asked while it is still being read.
    h.insert(0, "card", family="reference", args=("--delay", "0.25"))
    path = wait_for(lambda: next((p for p, pr in cards(bus).items()
                                  if pr["State"] == "reading"), None), 30)
    r = bus.call_as("member", path or "/", CARD1, "GetBeneficiaries", "")
    t.eq(r.get("error"), "org.vitaled.Error.InProgress", "asked while reading: InProgress")
    path, props = wait_card(bus, timeout=60)
    r = bus.call_as("member", path or "/", CARD1, "GetBeneficiaries", "")
    t.ok("ok" in r and len(r["ok"]) == 4, "the slow card then gives its data", r)
    h.remove(0)
    wait_no_card(bus)


def test_legacy_and_phone(t, bus, h, d):
    h.insert(0, "legacy", family="legacy")
    path, props = wait_card(bus)
    t.ok(props.get("Status") == "unverifiable" and props.get("HasData")
         and props.get("FormFactor") == "legacy-card",
         "legacy card: unverifiable, data available, form legacy-card", props)
    r = bus.call_as("member", path or "/", CARD1, "GetBeneficiaries", "")
    b = (r.get("ok") or [{}])[0]
    leg = LEGACY["legacy"]
    t.ok(b.get("Verified") is False and b.get("UsualName") == leg["surname"]
         and b.get("Nir") == leg["nir"],
         "legacy card: the identity comes back clearly marked Verified=false", r)
    t.ok(any("released (unverifiable legacy card)" in x for x in audit_lines(d)),
         "audit: a legacy release is logged as unverifiable")
    h.remove(0)
    wait_no_card(bus)

    h.insert(1, "phone", family="reference")
    path, props = wait_card(bus)
    t.ok(props.get("FormFactor") == "phone-nfc" and props.get("Status") == "verified",
         "phone over NFC: verified, form phone-nfc", props)
    h.remove(1)
    # the phone left the field: its read stays for the practice software
    wait_for(lambda: cards(bus).get(path, {}).get("Reader") == "/", 30)
    left = cards(bus).get(path, {})
    t.ok(left.get("Reader") == "/" and left.get("HasData"),
         "phone read outlives the tap (Reader \"/\", data still there)", left)
    r = bus.call_as("outsider", path or "/", CARD1, "Release")
    t.eq(r.get("error"), DENIED, "outsider cannot release a phone read")
    r = bus.call_as("member", path or "/", CARD1, "Release")
    t.ok(r.get("ok") is not None or r == {"ok": None}, "member releases the phone read", r)
    t.ok(wait_no_card(bus, 10), "released: the Card1 object is gone")
    r = bus.call_as("member", path or "/", CARD1, "GetBeneficiaries", "")
    t.eq(r.get("error"), "org.freedesktop.DBus.Error.UnknownObject",
         "released: its data can no longer be asked for")
    t.ok(any("Release on %s" % path in x and "wiped" in x for x in audit_lines(d)),
         "audit: the release is logged")


def parse_interfaces(xml_text):
    """{interface: {"methods": ..., "properties": ..., "signals": ...}} of a node."""
    out = {}
    for i in ET.fromstring(xml_text).findall("interface"):
        def args(el):
            return [(a.get("name"), a.get("type"), a.get("direction", "in" if el.tag == "method"
                                                            else None))
                    for a in el.findall("arg")]

        def ann(el):
            return sorted((a.get("name"), a.get("value")) for a in el.findall("annotation"))
        out[i.get("name")] = {
            "methods": {m.get("name"): (args(m), ann(m)) for m in i.findall("method")},
            "properties": {p.get("name"): (p.get("type"), p.get("access"), ann(p))
                           for p in i.findall("property")},
            "signals": {s.get("name"): (args(s), ann(s)) for s in i.findall("signal")},
            "annotations": ann(i),
        }
    return out


DBUS_SIG = {"String": "s", "Boolean": "b", "UInt32": "u", "UInt64": "t", "ObjectPath": "o",
            "Byte": "y", "Int32": "i", "Int64": "x"}


def test_introspection(t, bus, h, d):
    import dbus
    h.insert(0, "card", family="reference")
    card, _ = wait_card(bus)
    c = bus.connection()
    nodes = {"/org/vitaled": MANAGER1, "/org/vitaled/readers/1": "org.vitaled.Reader1",
             card or "/": CARD1}
    for path, iface in nodes.items():
        xml_file = os.path.join(SRCDIR, "dbus", iface + ".xml")
        want = parse_interfaces(open(xml_file, encoding="utf-8").read())[iface]
        obj = c.get_object("org.vitaled", path, introspect=False)
        text = dbus.Interface(obj, "org.freedesktop.DBus.Introspectable").Introspect()
        got = parse_interfaces(str(text))
        t.ok(got.get(iface) == want, "%s at %s matches dbus/%s.xml" % (iface, path, iface),
             "got  %r\nwant %r" % (got.get(iface), want))
        std = {"org.freedesktop.DBus.Introspectable", "org.freedesktop.DBus.Properties",
               "org.freedesktop.DBus.Peer"}
        t.ok(std <= set(got), "%s: standard interfaces present" % path, sorted(got))
        props = dbus.Interface(obj, "org.freedesktop.DBus.Properties").GetAll(iface)
        types = {str(k): DBUS_SIG.get(type(v).__name__, "?") for k, v in props.items()}
        t.eq(types, {k: v[0] for k, v in want["properties"].items()},
             "%s: GetAll returns exactly the XML's properties with its types" % iface)
    obj = c.get_object("org.vitaled", "/org/vitaled", introspect=False)
    root = parse_interfaces(str(dbus.Interface(obj, "org.freedesktop.DBus.Introspectable")
                                .Introspect()))
    t.ok("org.freedesktop.DBus.ObjectManager" in root, "ObjectManager at /org/vitaled")
    tree = subprocess.run(["busctl", "--system", "tree", "--list", "org.vitaled"],
                          env=bus.env(), capture_output=True, text=True, timeout=30).stdout
    t.ok("/org/vitaled/readers/1" in tree and (card or "?") in tree,
         "busctl tree walks the object tree from /", tree)
    h.remove(0)
    wait_no_card(bus)


def test_manager_signals(t, bus, h, d):
    """Manager1 follows pcscd and the trust store, with PropertiesChanged."""
    out = os.path.join(d.dir, "monitor-manager.txt")
    with open(out, "w") as f:
        mon = bus.popen_as("root", ["dbus-monitor", "--system",
                                    "type='signal',sender='org.vitaled',path='/org/vitaled'"],
                           stdout=f, stderr=subprocess.STDOUT)
    wait_for(lambda: "member=NameLost" in open(out).read(), 30)

    def get(prop):
        return bus.call_as("root", "/org/vitaled", "org.freedesktop.DBus.Properties", "Get",
                           MANAGER1, prop).get("ok")
    roots = get("TrustRoots")
    t.ok(get("PcscAvailable") is True and roots and roots >= 1
         and get("TrustEarliestExpiry") > 0 and get("TrustCrls") >= 1,
         "Manager1: pcscd reachable, trust store counts and expiry published")
    empty = os.path.join(d.dir, "empty-trust")
    os.makedirs(empty, exist_ok=True)
    d.write_conf(conf().replace(vpki.trust_dir(), empty))
    d.signal(signal.SIGHUP)
    t.ok(wait_for(lambda: get("TrustRoots") == 0, 30) and get("TrustEarliestExpiry") == 0,
         "SIGHUP with an empty trust directory: TrustRoots 0, no expiry")
    h.kill_pcscd()
    t.ok(wait_for(lambda: get("PcscAvailable") is False, 60), "pcscd stopped: PcscAvailable false")
    h.start_pcscd()
    t.ok(wait_for(lambda: get("PcscAvailable") is True, 60), "pcscd back: PcscAvailable true")
    d.write_conf(conf())
    d.signal(signal.SIGHUP)
    t.ok(wait_for(lambda: get("TrustRoots") == roots, 30), "SIGHUP again: the trust store is back")
    wait_for(lambda: open(out).read().count('string "TrustRoots"') >= 2, 10)
    # not SIGINT: a suite started in the background by a shell without job
    # control runs with SIGINT ignored, and dbus-monitor would never end
    mon.send_signal(signal.SIGTERM)
    mon.wait(10)
    text = open(out, errors="replace").read()
    blocks = [b for b in re.split(r"\n(?=\S)", text) if "member=PropertiesChanged" in b]
    want = [('string "TrustRoots"', "uint32 0"), ('string "PcscAvailable"', "boolean false"),
            ('string "PcscAvailable"', "boolean true"),
            ('string "TrustRoots"', "uint32 %d" % (roots or 0))]
    t.ok(all(any(a in b and v in b for b in blocks) for a, v in want),
         "each change came as a PropertiesChanged on /org/vitaled", text[-3000:])


# A client named by itself (prctl PR_SET_NAME) making N calls of one method.
NAMED_CLIENT = r"""
import ctypes, json, sys
import dbus
name, path, method, n = sys.argv[1].encode("latin-1"), sys.argv[2], sys.argv[3], int(sys.argv[4])
if ctypes.CDLL(None, use_errno=True).prctl(15, ctypes.c_char_p(name), 0, 0, 0):
    sys.exit("prctl failed")
obj = dbus.SystemBus().get_object("org.vitaled", path, introspect=False)
call = obj.get_dbus_method(method, "org.vitaled.Card1")
out = {}
for _ in range(n):
    try:
        call("", timeout=30)
        out["ok"] = out.get("ok", 0) + 1
    except dbus.exceptions.DBusException as e:
        out[e.get_dbus_name()] = out.get(e.get_dbus_name(), 0) + 1
print(json.dumps(out))
"""
AUDIT_LINE = re.compile(r'audit: (?:(\d+) more refused calls within \d+ s|(\w+) on (\S+)) by uid '
                        r'(-?\d+) pid (\d+) comm "((?:[^"\\]|\\.)*)": (.*)$')


def unescape(q):
    return re.sub(rb"\\x([0-9a-f]{2})|\\(.)",
                  lambda m: bytes([int(m.group(1), 16)]) if m.group(1) else m.group(2),
                  q.encode("latin-1"))


def audit_of(d, pid):
    """(full lines, refusals counted in summary lines) of one caller's pid."""
    full, counted = [], 0
    for line in audit_lines(d):
        m = AUDIT_LINE.search(line)
        if m and int(m.group(5)) == pid:
            if m.group(1):
                counted += int(m.group(1))
            else:
                full.append(m)
    return full, counted


def test_audit_names_and_floods(t, loose, d, path):
    """A command name cannot pass for the line's structure; refusals coalesce."""
    name = 'p) x: "\\\n:ok'      # ')', ':', '"', a backslash and a newline: 12 bytes
    n = 3000
    started = time.monotonic()
    p = loose.popen_as("outsider", [PY, "-c", NAMED_CLIENT, name, path,
                                    "GetBeneficiaries", str(n)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/")
    out, err = p.communicate(timeout=600)
    windows = (time.monotonic() - started) // 10 + 1
    got = json.loads(out.strip().splitlines()[-1]) if p.returncode == 0 else {}
    t.ok(got == {"org.vitaled.Error.AccessDenied": n},
         "an outsider renamed by prctl: %d calls refused by the daemon" % n,
         (got, err[-2000:]))
    # the last window's count comes when the window is over
    wait_for(lambda: (lambda full, counted: len(full) + counted)(*audit_of(d, p.pid)) >= n, 60)
    full, counted = audit_of(d, p.pid)
    t.ok(len(full) == 1 and unescape(full[0].group(6)) == name.encode() and
         full[0].group(7) == "refused: AccessDenied",
         "audit: the name is quoted and escaped (%s), the outcome stays apart"
         % (full[0].group(0) if full else "no line"))
    raw = [x for x in audit_lines(d) if "pid %d " % p.pid in x]
    t.ok(len(full) + counted == n and len(raw) <= 2 + windows,
         "audit: %d refusals from one caller in %d lines (%d counted in summaries)"
         % (n, len(raw), counted), raw)
    t.ok(not any(x.startswith(":ok") for x in d.log().splitlines()),
         "the newline in the name did not start a line of the log")
    # every release stays one line each
    before = len(audit_lines(d))
    p = loose.popen_as("member", [PY, "-c", NAMED_CLIENT, "reader: ok", path,
                                  "GetBeneficiaries", "40"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/")
    out, err = p.communicate(timeout=120)
    t.eq(json.loads(out.strip().splitlines()[-1]) if p.returncode == 0 else err, {"ok": 40},
         "a member's 40 calls served")
    rel = [x for x in audit_lines(d)[before:] if x.endswith('comm "reader: ok": released')]
    t.eq(len(rel), 40, "audit: 40 releases, 40 lines")


def test_daemon_checks_callers(t, h):
    """A loose bus policy or a wrong client group: the daemon still refuses."""
    with SystemBus(permissive=True) as loose:
        d = loose.start_vitaled(conf(), env={"PCSCLITE_CSOCK_NAME": h.socket})
        h.insert(0, "card", family="reference")
        path, props = wait_card(loose)
        for m, args in (("GetBeneficiaries", ("",)), ("GetAffiliation", ()), ("Release", ())):
            r = loose.call_as("outsider", path or "/", CARD1, m, *args)
            t.eq(r.get("error"), "org.vitaled.Error.AccessDenied",
                 "loose bus policy: the daemon itself refuses %s to an outsider" % m)
        r = loose.call_as("outsider", "/org/vitaled", "org.freedesktop.DBus.ObjectManager",
                          "GetManagedObjects")
        t.ok("ok" in r and not leaks(json.dumps(r, ensure_ascii=False)),
             "loose bus policy: what an outsider can read holds no personal data", r)
        r = loose.call_as("member", path or "/", CARD1, "GetBeneficiaries", "")
        t.ok("ok" in r, "loose bus policy: a member is still served", r)
        refused = [x for x in audit_lines(d) if "uid %d " % uid_of("outsider") in x]
        t.ok(len(refused) == 3 and all("refused: AccessDenied" in x for x in refused),
             "audit: each refusal is logged with the outsider's uid", refused)
        test_audit_names_and_floods(t, loose, d, path or "/")
        d.stop()
        # The client group is the daemon's own setting, checked by the daemon.
        d = loose.start_vitaled(conf("[DBus]\nClientGroup = vitaled-nosuchgroup\n"),
                                env={"PCSCLITE_CSOCK_NAME": h.socket})
        path, props = wait_card(loose)
        r = loose.call_as("member", path or "/", CARD1, "GetBeneficiaries", "")
        t.eq(r.get("error"), "org.vitaled.Error.AccessDenied",
             "ClientGroup names another group: members of vitaled-clients are refused")
        r = loose.call_as("root", path or "/", CARD1, "GetBeneficiaries", "")
        t.ok("ok" in r, "... and root still is served", r)
        h.remove(0)


def test_stale_path_after_restart(t, bus, h):
    """A card's path never names another read: after a restart, the old path
    of one patient must fail, never answer with the next patient's data."""
    env = {"PCSCLITE_CSOCK_NAME": h.socket}
    d = bus.start_vitaled(conf(), env=env)
    h.insert(0, "card", family="reference")
    old, props = wait_card(bus)
    t.ok(re.fullmatch(r"/org/vitaled/cards/[0-9a-f]{32}", old or ""),
         "a card's path ends in its id: 128 random bits in hex", old)
    h.remove(0)
    wait_no_card(bus)
    d.stop_checked(t)
    d = bus.start_vitaled(conf(), env=env)
    h.insert(0, "card", family="six")
    new, props = wait_card(bus)
    t.ok(new and props.get("Status") == "verified" and new != old,
         "after a restart, another patient's card has another path", (old, new))
    r = bus.call_as("member", new or "/", CARD1, "GetAffiliation")
    t.ok("ok" in r and r["ok"]["CardSerial"] == vfam.load("six")["card"]["serial"]["card"],
         "the new path serves the new card", r)
    for call in ((CARD1, "GetBeneficiaries", ""), (CARD1, "GetAffiliation"),
                 (CARD1, "Release"), ("org.freedesktop.DBus.Properties", "Get", CARD1, "Status"),
                 ("org.freedesktop.DBus.Properties", "GetAll", CARD1),
                 ("org.freedesktop.DBus.Introspectable", "Introspect")):
        r = bus.call_as("member", old or "/", *call)
        t.eq(r.get("error"), "org.freedesktop.DBus.Error.UnknownObject",
             "the old path fails after the restart: %s.%s answers UnknownObject"
             % (call[0].split(".")[-1], call[1]))
    h.remove(0)
    wait_no_card(bus)
    d.stop_checked(t)


def test_phone_lifetime(t, bus, h):
    d = bus.start_vitaled(conf("[DBus]\nPhoneReadLifetime = 10\n"),
                          env={"PCSCLITE_CSOCK_NAME": h.socket})
    h.insert(1, "phone", family="reference")
    path, props = wait_card(bus)
    h.remove(1)
    wait_for(lambda: cards(bus).get(path, {}).get("Reader") == "/", 30)
    t.ok(path in cards(bus), "a phone read stays after the phone left the field")
    t.ok(wait_no_card(bus, 60), "... until PhoneReadLifetime (10 s) runs out: Card1 removed")
    r = bus.call_as("member", path or "/", CARD1, "GetBeneficiaries", "")
    t.eq(r.get("error"), "org.freedesktop.DBus.Error.UnknownObject",
         "the expired phone read cannot be asked for any more")
    d.stop()


def test_session_bus(t, bus, h):
    """--session: a developer's own bus; the daemon's own user is served."""
    sess = bus.popen_as("outsider", ["dbus-daemon", "--session", "--nofork", "--nopidfile",
                                     "--print-address=1"], stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL)
    try:
        addr = sess.stdout.readline().decode().strip()
        env = {"PCSCLITE_CSOCK_NAME": h.socket, "DBUS_SESSION_BUS_ADDRESS": addr}
        d = bus.start_vitaled(conf(), env=env, user="outsider", args=("--session",))
        h.insert(0, "card", family="reference")
        code = ("import dbus, json, time\n"
                "b = dbus.SessionBus()\n"
                "om = b.get_object('org.vitaled', '/org/vitaled')\n"
                "for i in range(300):\n"
                "    cards = [p for p, i in om.GetManagedObjects(dbus_interface="
                "'org.freedesktop.DBus.ObjectManager').items()\n"
                "             if i.get('org.vitaled.Card1', {}).get('State') == 'done']\n"
                "    if cards: break\n"
                "    time.sleep(0.1)\n"
                "c = b.get_object('org.vitaled', cards[0])\n"
                "print(json.dumps([str(x['FirstName']) for x in c.GetBeneficiaries("
                "'', dbus_interface='org.vitaled.Card1')]))\n")
        r = bus.run_as("outsider", [PY, "-c", code], env=dict(bus.env(env)), timeout=120)
        t.eq(r.stdout.strip(), json.dumps([b["first_name"] for b in REF["beneficiaries"]]),
             "--session: the daemon's own user reads the card on its session bus")
        t.ok("owned on the session bus" in d.log(), "--session: the name is on the session bus")
        h.remove(0)
        d.stop()
    finally:
        sess.kill()
        sess.wait()
        sess.stdout.close()


def test_bus_loss(t, h):
    with SystemBus() as bus:
        d = bus.start_vitaled(conf(), env={"PCSCLITE_CSOCK_NAME": h.socket})
        bus.proc.kill()
        try:
            status = d.proc.wait(30)
        except subprocess.TimeoutExpired:
            status = None
        t.ok(status not in (None, 0), "the bus went away: the daemon exits non-zero (%s)" % status)
        t.ok("lost the connection to the bus" in d.log(), "... saying why", d.log()[-1500:])
        # and a daemon that may not own the name says so and stops
    with SystemBus() as bus:
        d = bus.start_vitaled(conf(), user="outsider", wait_ready=False)
        try:
            status = d.proc.wait(30)
        except subprocess.TimeoutExpired:
            status = None
        t.ok(status not in (None, 0) and "cannot own org.vitaled" in d.log(),
             "run as another user, the daemon cannot own the name and exits non-zero",
             d.log()[-1500:])


def main():
    with bus_and_pcsc() as (bus, h):
        d = bus.start_vitaled(conf(), env={"PCSCLITE_CSOCK_NAME": h.socket})
        wait_for(lambda: "reader " in d.log() and "added" in d.log(), 30)
        for test in (test_ownership,):
            t.run(test, bus, d)
        for test in (test_end_to_end_and_privacy, test_access, test_errors,
                     test_legacy_and_phone, test_introspection, test_manager_signals):
            t.run(test, bus, h, d)
        d.stop_checked(t)
        t.run(test_stale_path_after_restart, bus, h)
        t.run(test_phone_lifetime, bus, h)
        t.run(test_session_bus, bus, h)
        t.run(test_daemon_checks_callers, h)
        t.run(test_bus_loss, h)
    t.done()


if __name__ == "__main__":
    main()
