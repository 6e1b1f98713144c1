#!/usr/bin/python3
"""vitalectl against the real daemon: private pcscd with virtual readers and
cards, private system-like bus with our policy, clients as root, a
vitaled-clients member and an outsider.  Human output checked line by line
where it is stable, --json parsed and checked, exit codes as documented."""
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))

from vtest import pki as vpki  # noqa: E402
from vtest.bus import SystemBus, BusUnavailable  # noqa: E402
from vtest.daemon import vitalectl_path, srcdir  # noqa: E402
from vtest.pcsc import Pcsc, HarnessUnavailable  # noqa: E402
from vtest.tap import Tap  # noqa: E402

CTL = vitalectl_path()
# The reference family (tests/emu/families/reference.json) as the card holds it.
NAMES = ["MARTIN Pierre", "MARTIN Sophie (born DUBOIS)", "MARTIN Léa", "MARTIN Hugo"]
NIRS = ["180037505612310", "282047505612471"]


def ctl(bus, who, *args, env=None):
    return bus.run_as(who, [CTL] + list(args), env=bus.env(dict(env or {}, TZ="UTC")))


def wait_card(bus, reader_index, want_done=True, timeout=30):
    """The card object in the reader (from `vitalectl --json readers`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = ctl(bus, "root", "--json", "readers")
        if r.returncode == 0:
            readers = json.loads(r.stdout)
            name = "Virtual PCD 00 0%d" % reader_index
            for rd in readers:
                c = rd["card"]
                if rd["name"] == name and c and (c["state"] == "done" or not want_done):
                    return c
        time.sleep(0.1)
    raise TimeoutError("no card read in reader %d" % reader_index)


def read_lines(p, n, timeout=30):
    """Text a watch printed, up to at least its first n lines (it has
    subscribed by then).  Read from the pipe itself so that nothing stays
    in a buffer that communicate() would not see."""
    data = b""
    fd = p.stdout.fileno()
    deadline = time.monotonic() + timeout
    while data.count(b"\n") < n and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
    return data.decode()


def wait_no_card(bus, reader_index, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        readers = json.loads(ctl(bus, "root", "--json", "readers").stdout)
        if all(rd["card"] is None for rd in readers
               if rd["name"] == "Virtual PCD 00 0%d" % reader_index):
            return
        time.sleep(0.1)
    raise TimeoutError("card still in reader %d" % reader_index)


# ---- without a daemon -------------------------------------------------------

def test_usage(t):
    r = subprocess.run([CTL, "--help"], capture_output=True, text=True)
    t.eq(r.returncode, 0, "--help exits 0")
    for cmd in ("status", "readers", "watch", "show", "diag", "token", "trust"):
        t.ok(re.search(r"^  %s " % cmd, r.stdout, re.M), "--help lists %s" % cmd, r.stdout)
    t.ok("4 not authorised" in r.stdout, "--help documents the exit codes", r.stdout)
    r = subprocess.run([CTL, "--version"], capture_output=True, text=True)
    t.ok(r.returncode == 0 and re.match(r"vitalectl \d+\.\d+", r.stdout), "--version", r.stdout)
    r = subprocess.run([CTL, "frobnicate"], capture_output=True, text=True)
    t.eq(r.returncode, 2, "unknown command: exit 2")
    r = subprocess.run([CTL], capture_output=True, text=True)
    t.eq(r.returncode, 2, "no command: exit 2")
    for cmd in ("status", "readers", "watch", "diag"):
        r = subprocess.run([CTL, cmd, "extra"], capture_output=True, text=True)
        t.ok(r.returncode == 2 and r.stderr.startswith("Usage: vitalectl"),
             "%s with an argument: its usage, exit 2" % cmd, r.stderr)
    for argv in (["status"], ["readers"], ["watch"], ["show"], ["diag"], ["token", "verify"],
                 ["trust"]):
        r = subprocess.run([CTL] + argv + ["--help"], capture_output=True, text=True)
        t.ok(r.returncode == 0 and r.stdout.startswith("Usage: vitalectl"),
             "%s --help: its usage, exit 0" % " ".join(argv), r.stdout + r.stderr)
    r = subprocess.run([CTL, "show", "not-a-card"], capture_output=True, text=True)
    t.eq(r.returncode, 2, "show with a bad card name: exit 2")
    r = subprocess.run([CTL, "trust"], capture_output=True, text=True)
    t.eq(r.returncode, 2, "trust without list: exit 2")


def test_trust_list(t):
    trust = vpki.trust_dir()
    r = subprocess.run([CTL, "trust", "list", "--dir", trust], capture_output=True, text=True,
                       env=dict(os.environ, TZ="UTC"))
    t.eq(r.returncode, 0, "trust list: exit 0")
    lines = r.stdout.splitlines()
    t.eq(lines[0], "Trust directory %s: 1 root, 5 signers, 1 CRL, 2 opposed serials" % trust,
         "trust list: summary line")
    # golden: the test PKI's fixed validity dates (tests/pki/mkpki.sh)
    table = [re.sub(r"\s+", " ", x).strip() for x in lines[2:] if x.strip()]
    want = [
        "KIND STATUS FROM UNTIL SUBJECT / ISSUER FILE",
        "signer valid 2024-01-01 2049-12-31 vitaled test DS ES256 ds-es256.pem",
        "signer expired 2020-01-01 2021-01-01 vitaled test DS expired ds-expired.pem",
        "signer certificate has expired",
        "signer not-yet-valid 2045-01-01 2049-12-31 vitaled test DS not yet valid ds-notyet.pem",
        "signer certificate is not yet valid",
        "signer valid 2024-01-01 2049-12-31 vitaled test DS PS256 ds-ps256.pem",
        "signer revoked 2024-01-01 2049-12-31 vitaled test DS revoked ds-revoked.pem",
        "signer certificate is revoked",
        "crl current 2024-01-01 2049-12-31 vitaled test issuer root root.crl (1 revoked)",
        "root valid 2020-01-01 2059-12-31 vitaled test issuer root root.pem",
    ]
    t.eq(table, want, "trust list: golden table")
    r = subprocess.run([CTL, "--json", "trust", "list", "--dir", trust], capture_output=True,
                       text=True)
    j = json.loads(r.stdout)
    t.eq((j["roots"], j["signers"], j["crls"], j["opposed"]), (1, 5, 1, 2), "trust --json: counts")
    status = {i["file"]: i["status"] for i in j["items"]}
    t.eq(status, {"ds-es256.pem": "valid", "ds-expired.pem": "expired",
                  "ds-notyet.pem": "not-yet-valid", "ds-ps256.pem": "valid",
                  "ds-revoked.pem": "revoked", "root.crl": "current", "root.pem": "valid"},
         "trust --json: every item's status")
    crl = [i for i in j["items"] if i["kind"] == "crl"][0]
    t.ok(crl["revoked"] == 1 and crl["next_update"] > crl["last_update"] > 0,
         "trust --json: CRL dates and revoked count", crl)
    r = subprocess.run([CTL, "trust", "list", "--dir", "/nonexistent/trust.d"],
                       capture_output=True, text=True)
    t.eq(r.returncode, 1, "trust list of a missing directory: exit 1")
    # What is listed is what the daemon loads (the same loader): nothing from a file it
    # refuses as too large, nothing from a FIFO (and no wait on it); a self-issued
    # certificate that is not a CA is a signer (untrusted), as in the daemon.
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(trust, "root.pem")) as f:
            root = f.read()
        for name in ("root.pem", "ds-es256.pem"):
            with open(os.path.join(trust, name)) as f, open(os.path.join(d, name), "w") as g:
                g.write(f.read())
        with open(os.path.join(d, "big.pem"), "w") as f:
            f.write(root * (1024 * 1024 // len(root) + 1))
        os.mkfifo(os.path.join(d, "fifo.pem"))
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=self not CA",
                        "-addext", "basicConstraints=critical,CA:FALSE", "-days", "30",
                        "-keyout", os.path.join(d, "self.key"),
                        "-out", os.path.join(d, "self.pem")],
                       check=True, capture_output=True, timeout=60)
        r = subprocess.run([CTL, "--json", "trust", "list", "--dir", d], capture_output=True,
                           text=True, timeout=60)
        j = json.loads(r.stdout)
        t.eq(([(i["kind"], i["file"], i["status"]) for i in j["items"]], j["roots"], j["signers"]),
             ([("signer", "ds-es256.pem", "valid"), ("root", "root.pem", "valid"),
               ("signer", "self.pem", "untrusted")], 1, 2),
             "trust list: only what the loader took (not the refused big.pem or fifo.pem), "
             "a self-signed non-CA as the signer it is to the daemon")
        t.ok(any(p.startswith("big.pem: too large") for p in j["problems"])
             and any(p.startswith("fifo.pem: ") and "not a regular file" in p
                     for p in j["problems"]),
             "trust list: the refused files are listed as problems, with the loader's reason",
             j["problems"])
    # the configured directory is the default
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as conf:
        conf.write("[Trust]\nDirectory = %s\n" % trust)
        conf.flush()
        r = subprocess.run([CTL, "--json", "--config", conf.name, "trust", "list"],
                           capture_output=True, text=True)
        t.eq(json.loads(r.stdout)["directory"], trust, "trust list: [Trust] Directory of --config")


def test_json_escaping(t):
    """File names with quotes, control characters and invalid UTF-8 come
    back in the problems list as valid JSON."""
    d = tempfile.mkdtemp(prefix="vitalectl-json-")
    name = b'bad "quoted"\\\n\x01\xff\xfe.pem'
    with open(os.path.join(d.encode(), name), "wb") as f:
        f.write(b"not a certificate\n")
    r = subprocess.run([CTL, "--json", "trust", "list", "--dir", d], capture_output=True)
    try:
        j = json.loads(r.stdout.decode("utf-8"))
    except ValueError as e:
        t.ok(False, "trust --json with a hostile file name is valid JSON", "%s\n%r" % (e, r.stdout))
        return
    t.ok(True, "trust --json with a hostile file name is valid JSON")
    t.ok(any(p.startswith('bad "quoted"\\\n\x01\ufffd\ufffd.pem: ') for p in j["problems"]),
         "the name survives escaping (invalid UTF-8 as U+FFFD)", j["problems"])
    os.unlink(os.path.join(d.encode(), name))
    os.rmdir(d)


def test_completion(t):
    comp = os.path.join(srcdir(), "tools", "completion", "vitalectl")
    script = ('source "%s"; complete -p vitalectl; '
              'COMP_WORDS=(vitalectl s); COMP_CWORD=1; _vitalectl; echo "${COMPREPLY[*]}"; '
              'COMP_WORDS=(vitalectl --json trust ""); COMP_CWORD=3; _vitalectl; '
              'echo "${COMPREPLY[*]}"; '
              'COMP_WORDS=(vitalectl token verify --im); COMP_CWORD=3; _vitalectl; '
              'echo "${COMPREPLY[*]}"' % comp)
    r = subprocess.run(["bash", "--norc", "-c", script], capture_output=True, text=True)
    out = r.stdout.splitlines()
    t.ok(r.returncode == 0 and len(out) == 4, "bash completion loads", r.stdout + r.stderr)
    if len(out) == 4:
        t.eq(out[1].split(), ["status", "show"], "completion: commands")
        t.eq(out[2], "list install", "completion: trust subcommands")
        t.eq(out[3], "--image", "completion: token verify options")


def test_no_daemon(t, bus):
    r = ctl(bus, "root", "status")
    t.eq(r.returncode, 3, "status without vitaled: exit 3")
    t.ok("not running" in r.stdout, "status says it is not running", r.stdout)
    r = ctl(bus, "root", "--json", "status")
    j = json.loads(r.stdout)
    t.ok(j["running"] is False and j["error"], "status --json without vitaled", j)
    for args in (["readers"], ["show"]):
        r = ctl(bus, "root", *args)
        t.eq(r.returncode, 3, "%s without vitaled: exit 3" % args[0])
        t.ok("vitaled is not running" in r.stderr, "%s says why" % args[0], r.stderr)


# ---- against the daemon -------------------------------------------------------

def test_watch_before_daemon(t, p, head):
    """watch started before vitaled: it says so, then sees it arrive."""
    time.sleep(0.5)
    p.send_signal(2)
    out, _ = p.communicate(timeout=20)
    events = [json.loads(x) for x in (head + out).splitlines()]
    t.ok(events and events[0]["event"] == "daemon-down" and events[0].get("initial"),
         "watch --json before the daemon: daemon-down first", events[:1])
    t.eq([e["event"] for e in events[1:4]], ["daemon-up", "reader-added", "reader-added"],
         "watch --json: then the daemon and its readers arrive")
    t.ok(not any(e.get("initial") for e in events[1:]), "arrivals are not initial")


def test_status(t, bus):
    r = ctl(bus, "member", "status")
    t.eq(r.returncode, 0, "status (member): exit 0")
    got = [re.sub(r"\s+", " ", x).strip() for x in r.stdout.splitlines()]
    t.ok(re.match(r"vitaled \d+\.\d+\.\d+ is running$", got[0]), "status: first line", got)
    want = ["pcscd: reachable",
            "trust store: 1 root, 5 signers, 1 CRL, 2 opposed serials",
            "test cards: refused",
            "sources: 2",
            "contact idle Virtual PCD 00 00",
            "contact idle Virtual PCD 00 01",
            "cards: 0",
            # the test PKI holds an expired signer on purpose
            "warning: a trust certificate expired on 2021-01-01 (see 'vitalectl trust list')"]
    t.eq([x for x in got[1:] if not x.startswith("earliest expiry")], want,
         "status: golden lines")
    t.ok(any(re.match(r"earliest expiry \d{4}-\d\d-\d\d, CRL next update 2049-12-31", x)
             for x in got), "status: expiry line", got)
    t.ok("\033[" not in r.stdout, "status: no colours when not on a terminal")
    j = json.loads(ctl(bus, "root", "--json", "status").stdout)
    t.ok(j["running"] and j["pcsc_available"] and not j["test_cards_allowed"],
         "status --json: running, pcscd, test cards", j)
    t.eq((j["trust"]["roots"], j["trust"]["signers"], j["trust"]["crls"], j["trust"]["opposed"]),
         (1, 5, 1, 2), "status --json: trust counts")
    t.eq(sorted((s["kind"], s["state"]) for s in j["sources"]),
         [("contact", "idle"), ("contact", "idle")], "status --json: sources")
    t.eq(j["warnings"], ["a trust certificate expired on 2021-01-01 (see 'vitalectl trust list')"],
         "status --json: the expired signer is warned about")
    r = ctl(bus, "outsider", "status")
    t.eq(r.returncode, 4, "status as an outsider: exit 4 (the bus policy refuses)")
    t.ok("not authorised" in r.stderr and "usermod -aG vitaled-clients" in r.stderr,
         "status as an outsider says what to do", r.stderr)


def test_readers(t, bus):
    r = ctl(bus, "member", "readers")
    lines = [re.sub(r"\s+", " ", x).strip() for x in r.stdout.splitlines()]
    t.eq(r.returncode, 0, "readers: exit 0")
    t.eq(lines[0], "KIND STATE CARD NAME ID", "readers: header")
    t.ok(len(lines) == 3 and re.match(r"contact idle - Virtual PCD 00 00 pcsc-\S+$", lines[1])
         and re.match(r"contact idle - Virtual PCD 00 01 pcsc-\S+$", lines[2]),
         "readers: one line per reader", lines)
    j = json.loads(ctl(bus, "member", "--json", "readers").stdout)
    t.eq([(x["name"], x["kind"], x["state"], x["card"]) for x in j],
         [("Virtual PCD 00 00", "contact", "idle", None),
          ("Virtual PCD 00 01", "contact", "idle", None)], "readers --json")
    t.ok(all(x["id"].startswith("pcsc-") and x["path"].startswith("/org/vitaled/readers/")
             for x in j), "readers --json: stable ids and paths", j)


def test_show(t, bus, pcsc):
    r = ctl(bus, "member", "show")
    t.eq(r.returncode, 1, "show with no card read: exit 1")
    t.ok("no card has been read" in r.stderr, "show says no card was read", r.stderr)
    pcsc.insert(0, profile="card", variant="reference")
    card = wait_card(bus, 0)
    t.eq(card["status"], "verified", "reference card verified")
    r = ctl(bus, "member", "show", "--date", "2026-06-01")
    t.eq(r.returncode, 0, "show (member): exit 0")
    lines = [re.sub(r"\s+", " ", x).strip() for x in r.stdout.splitlines()]
    want = [
        "Card %s: physical card, verified" % card["path"],
        "issuer Assurance Maladie (vitaled test), serial VTD0000000001, valid 2024-01-01 to 2034-12-31",
        "régime 01, caisse 751, centre 0751, code gestion 10",
        "",
        "Rights on 2026-06-01:",
        "# NAME BIRTH QUALITY NIR AMO C2S",
        "1 MARTIN Pierre 1980-03-15 insured 1 80 03 75 056 123 10 open until 2035-12-31",
        "coverage: exemption 0, situation 0, 2024-01-01 to 2035-12-31",
        "AMC 99999997 member MUT-0001-A, guarantee RC, routing SP, 2024-01-01 to 2026-12-31",
        "2 MARTIN Sophie (born DUBOIS) 1982-04-22 spouse 2 82 04 75 056 124 71 open until 2035-12-31",
        "coverage: exemption 4, situation ALD, 2025-06-01 to (open)",
        "AMC 99999997 member MUT-0001-B, guarantee RC, routing SP, 2024-01-01 to 2026-12-31",
        "3 MARTIN Léa 2010-01-17 child - open until 2035-12-31",
        "4 MARTIN Hugo 2012-03-09 child - open until 2028-03-08",
    ]
    t.eq(lines, want, "show: golden table on 2026-06-01")
    # on another date, rights end and contracts lapse
    r = ctl(bus, "member", "show", card["path"], "--date", "2029-01-01")
    t.ok(re.search(r"MARTIN Hugo +2012-03-09 +child +- +closed", r.stdout),
         "show --date 2029-01-01: Hugo's rights are closed", r.stdout)
    t.ok("2026-12-31 (not in force)" in r.stdout, "show --date 2029-01-01: AMC not in force",
         r.stdout)
    j = json.loads(ctl(bus, "member", "--json", "show", card["path"].rsplit("/", 1)[1],
                       "--date", "2026-06-01").stdout)
    t.eq((j["card"], j["form"], j["status"]), (card["path"], "card", "verified"),
         "show --json: the card")
    t.eq(j["affiliation"]["CardSerial"], "VTD0000000001", "show --json: affiliation")
    t.eq([(b["UsualName"], b["FirstName"]) for b in j["beneficiaries"]],
         [("MARTIN", "Pierre"), ("MARTIN", "Sophie"), ("MARTIN", "Léa"), ("MARTIN", "Hugo")],
         "show --json: the four beneficiaries")
    t.eq([b["Nir"] for b in j["beneficiaries"]][:2], NIRS, "show --json: NIRs")
    t.ok(all(b["AmoOpen"] and b["RightsDate"] == "2026-06-01" for b in j["beneficiaries"]),
         "show --json: rights open on the date", j["beneficiaries"])
    r = ctl(bus, "outsider", "show", card["path"])
    t.eq(r.returncode, 4, "show as an outsider: exit 4")
    t.ok("not authorised" in r.stderr and "vitaled-clients" in r.stderr,
         "show as an outsider: says so clearly", r.stderr)
    t.ok(not any(n in r.stdout + r.stderr for n in NIRS + NAMES),
         "show as an outsider: no personal data")
    r = ctl(bus, "root", "show", "0" * 32)
    t.eq(r.returncode, 1, "show of an unknown card: exit 1")
    pcsc.remove(0)
    wait_no_card(bus, 0)
    r = ctl(bus, "member", "show", card["path"])
    t.eq(r.returncode, 1, "show of a pulled card: exit 1 (its data is gone)")
    # a card still being read (0.2 s per APDU) is waited for
    pcsc.insert(0, profile="card", variant="slow", wait=False)
    reading = wait_card(bus, 0, want_done=False)
    r = ctl(bus, "member", "--json", "show")
    t.ok(reading["state"] == "reading" and r.returncode == 0
         and json.loads(r.stdout)["card"] == reading["path"]
         and len(json.loads(r.stdout)["beneficiaries"]) == 4,
         "show waits for a card still being read", (reading, r.stdout, r.stderr))
    pcsc.remove(0)
    wait_no_card(bus, 0)
    pcsc.insert(0, profile="card", variant="wrong-hash")
    forged = wait_card(bus, 0)
    r = ctl(bus, "member", "show", forged["path"])
    t.eq(r.returncode, 1, "show of a forged card: exit 1")
    t.ok("was not verified (forged" in r.stderr, "show says the card was forged", r.stderr)
    pcsc.remove(0)
    wait_no_card(bus, 0)


def test_watch(t, bus, pcsc):
    human = bus.popen_as("member", [CTL, "watch"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=bus.env({"TZ": "UTC"}))
    js = bus.popen_as("member", [CTL, "--json", "watch"], stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True)
    # both subscribed: the daemon and its two readers are their first lines
    head = [read_lines(human, 3), read_lines(js, 3)]
    pcsc.insert(0, profile="card", variant="reference")
    wait_card(bus, 0)
    pcsc.insert(1, profile="card", variant="expired")
    wait_card(bus, 1)
    pcsc.remove(0)
    pcsc.remove(1)
    wait_no_card(bus, 0)
    wait_no_card(bus, 1)
    time.sleep(0.5)
    for p in (human, js):
        p.send_signal(2)
    hout, herr = human.communicate(timeout=20)
    jout, jerr = js.communicate(timeout=20)
    hout, jout = head[0] + hout, head[1] + jout
    t.eq((human.returncode, js.returncode), (0, 0), "watch ends with exit 0 on SIGINT")
    hl = [re.sub(r"^\d\d:\d\d:\d\d ", "", x) for x in hout.splitlines()]
    want = [r"vitaled \S+ is running",
            r"reader Virtual PCD 00 00 \(contact, idle\)",
            r"reader Virtual PCD 00 01 \(contact, idle\)",
            r"card inserted in Virtual PCD 00 00",
            r"verified: physical card, 4 beneficiaries \[/org/vitaled/cards/[0-9a-f]{32}\]",
            r"card inserted in Virtual PCD 00 01",
            r"expired: physical card — .+ \[/org/vitaled/cards/[0-9a-f]{32}\]"]
    i = 0
    for line in hl:
        if i < len(want) and re.fullmatch(want[i], line):
            i += 1
    t.eq(i, len(want), "watch: human lines in order")
    t.ok(any(re.fullmatch(r"card removed from Virtual PCD 00 00: its data is gone \[\S+\]", x)
             for x in hl), "watch: the verified card's removal", hout)
    t.ok(any(re.fullmatch(r"card removed from Virtual PCD 00 01 \[\S+\]", x) for x in hl),
         "watch: the expired card's removal (it had no data)", hout)
    events = []
    bad = []
    for line in jout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            bad.append(line)
    t.eq(bad, [], "watch --json: every line is one JSON object")
    kinds = [e["event"] for e in events]
    t.eq(kinds[:3], ["daemon-up", "reader-added", "reader-added"], "watch --json: start")
    t.ok(all(e.get("initial") for e in events[1:3]), "watch --json: initial objects marked")
    verdicts = [e for e in events if e["event"] == "card-verdict"]
    t.eq([(v["reader_name"], v["form"], v["status"], v["beneficiaries"], v["has_data"])
          for v in verdicts],
         [("Virtual PCD 00 00", "card", "verified", 4, True),
          ("Virtual PCD 00 01", "card", "expired", 0, False)], "watch --json: verdicts")
    t.ok(verdicts and verdicts[1]["reason"], "watch --json: the reason of a refusal", verdicts)
    t.eq(kinds.count("card-added"), 2, "watch --json: two cards added")
    t.eq(kinds.count("card-removed"), 2, "watch --json: two cards removed")
    t.ok(all(isinstance(e["time"], int) for e in events), "watch --json: times")
    t.ok(not any(n in hout + jout for n in NIRS + NAMES + ["Pierre", "Sophie"]),
         "watch: no personal data in events")


def test_watch_daemon_restart(t, bus, conf, env):
    """watch keeps going across a daemon restart and says so."""
    p = bus.popen_as("root", [CTL, "--json", "watch"], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True)
    head = read_lines(p, 3)
    for d in list(bus.daemons):
        d.stop()
        bus.daemons.remove(d)
    time.sleep(0.5)
    bus.start_vitaled(conf, env=env)
    time.sleep(1.0)
    p.send_signal(2)
    out, _ = p.communicate(timeout=20)
    kinds = [json.loads(x)["event"] for x in (head + out).splitlines()]
    t.ok("daemon-down" in kinds and kinds.index("daemon-up") < kinds.index("daemon-down")
         and kinds[kinds.index("daemon-down"):].count("daemon-up") == 1,
         "watch: daemon-down then daemon-up across a restart", kinds)
    t.ok(kinds[kinds.index("daemon-down"):].count("reader-added") == 2,
         "watch: the readers come back after the restart", kinds)


def test_permissive_outsider(t, pcsc, conf, env):
    """With a bus policy that lets anybody through, vitaled's own check
    still refuses an outsider's data call: exit 4 as well."""
    with SystemBus(permissive=True) as bus:
        bus.start_vitaled(conf, env=env)
        pcsc.insert(0, profile="card", variant="reference")
        card = wait_card(bus, 0)
        r = ctl(bus, "outsider", "show", card["path"])
        t.eq(r.returncode, 4, "show as an outsider, loose bus policy: exit 4 (vitaled refuses)")
        t.ok("not authorised" in r.stderr, "the daemon's refusal is reported", r.stderr)
        t.ok(not any(n in r.stdout + r.stderr for n in NIRS + NAMES), "no personal data leaks")
        r = ctl(bus, "outsider", "status")
        t.eq(r.returncode, 0, "status as an outsider, loose bus policy: properties are public")
        pcsc.remove(0)


def main():
    t = Tap()
    t.run(test_usage)
    t.run(test_trust_list)
    t.run(test_json_escaping)
    t.run(test_completion)
    try:
        with Pcsc() as pcsc, SystemBus() as bus:
            pcsc.share_socket()  # the daemon's user reaches pcscd's socket
            t.run(test_no_daemon, bus)
            early = bus.popen_as("root", [CTL, "--json", "watch"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            early_head = read_lines(early, 1)  # subscribed: daemon-down seen
            conf = "[Trust]\nDirectory = %s\n[General]\nEnablePlugins = pcsc\n" % vpki.trust_dir()
            env = {"PCSCLITE_CSOCK_NAME": pcsc.socket}
            bus.start_vitaled(conf, env=env)
            wait_readers(bus)
            t.run(test_watch_before_daemon, early, early_head)
            t.run(test_status, bus)
            t.run(test_readers, bus)
            t.run(test_show, bus, pcsc)
            t.run(test_watch, bus, pcsc)
            t.run(test_watch_daemon_restart, bus, conf, env)
            t.run(test_permissive_outsider, pcsc, conf, env)
    except (HarnessUnavailable, BusUnavailable) as e:
        t.skip("vitalectl against the daemon", str(e))
    t.done()


def wait_readers(bus, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = ctl(bus, "root", "--json", "readers")
        if r.returncode == 0 and len(json.loads(r.stdout)) == 2:
            return
        time.sleep(0.1)
    raise TimeoutError("the daemon did not show the two readers")


if __name__ == "__main__":
    main()
