#!/usr/bin/python3
"""Soak: mixed card insertions and removals in both readers of a private
pcscd, QR tokens scanned through a serial scanner (pty), and D-Bus clients
querying all the time; afterwards every read is accounted for.

Short by default (make check). The long run, on demand:
    VITALED_SOAK=long make check TESTS=tests/test-soak.py
    top_srcdir=... top_builddir=... /usr/bin/python3 tests/test-soak.py --long
(VITALED_SOAK_ROUNDS=N sets the number of rounds; each round inserts one
card in each reader and scans two tokens.  VITALED_VALGRIND=1 runs the
daemon under valgrind's memcheck.)

Checked, from the daemon's log and from a D-Bus client that saw it all:
- each insertion on a reader is one "inserted, reading" line, and each such
  read ends exactly once — one verdict, or "removed before the read
  finished" for a card pulled mid-read — with the verdict its variant has;
- each token scanned is one read with one verdict (all verified: every
  token is new);
- every Card1 object that appeared was removed again (cards pulled, phone
  reads released by the client) and none is left; the data calls the
  client made were answered;
- no name, NIR or member number of the families reaches the log;
- the daemon exits with status 0 on SIGTERM and, in a sanitizer build,
  without a LeakSanitizer/AddressSanitizer/UBSan report.
"""
import collections
import os
import re
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest.tap import Tap  # noqa: E402
from vtest.cardrig import Rig, HarnessUnavailable, family_strings  # noqa: E402
from vtest.soak import Scanner, Watcher, tokens  # noqa: E402
from vtest import daemon as vdaemon  # noqa: E402

# (profile, variant, pulled mid-read, expected verdict)
PLAN = [
    ("card", "reference", False, "verified"),
    ("phone", "reference", False, "verified"),
    ("legacy", "reference", False, "unverifiable"),
    ("card", "wrong-hash", False, "forged"),
    ("card", "reference", True, None),
    ("iso7816", "reference", False, "unsupported"),
    ("card", "tlv-overlong", False, "malformed"),
    ("card", "clone", False, "clone-suspected"),
    ("phone", "revoked", False, "revoked"),
]
SCANS_PER_ROUND = 2

INSERTED = re.compile(r"reader (\S+): card (\d+) inserted, reading \(object ([0-9a-f]{32})\)$",
                      re.M)
VERDICT = re.compile(r"reader (\S+): card (\d+): ([\w-]+), ([\w-]+) \(", re.M)
ABANDONED = re.compile(r"reader (\S+): card (\d+) removed before the read finished", re.M)
GONE = re.compile(r"card (\d+)(?: removed, data wiped| removed before the read finished"
                  r"|: released by a client|: phone read lifetime over)", re.M)
SANITIZER = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:"
                       r"|ERROR SUMMARY: [1-9]")
# VITALED_VALGRIND=1: the daemon under valgrind (memcheck, leaks), any build.
VALGRIND = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--error-exitcode=99", "--num-callers=30"]


def rounds():
    if os.environ.get("VITALED_SOAK_ROUNDS"):
        return int(os.environ["VITALED_SOAK_ROUNDS"])
    if "--long" in sys.argv or os.environ.get("VITALED_SOAK") == "long":
        return 500
    return 9


def one_round(rig, n, sc, toks, expected):
    """Insert a card in each reader (both at once), scan tokens meanwhile,
    pull the cards when read (or mid-read); record what each read should give."""
    at = rig.mark()
    steps = []
    for reader in (0, 1):
        profile, variant, pull, verdict = PLAN[(2 * n + reader) % len(PLAN)]
        args = ("--delay", "0.5") if pull else ()
        rig.pcsc.insert(reader, profile=profile, variant=variant, args=args, wait=False)
        steps.append((reader, pull, verdict))
    for _ in range(SCANS_PER_ROUND):
        sc.scan(next(toks))
        expected["qr"] += 1
    for reader, pull, verdict in steps:
        if not rig.pcsc.wait(reader, True):
            raise RuntimeError("card %d did not appear in reader %d" % (n, reader))
        serial = rig.inserted(reader, at, 60)
        if not pull:
            rig.wait(r"reader %s: card %d: " % (re.escape(rig.ids[reader]), serial), at, 60)
        rig.pcsc.remove(reader)
        expected["cards"].append((rig.ids[reader], serial, verdict))


def main():
    t = Tap()
    if not os.access(vdaemon.vitaled_path(), os.X_OK):
        t.bail("daemon/vitaled not built")
    n_rounds = rounds()
    t.diag("soak: %d rounds (2 insertions and %d scans each)" % (n_rounds, SCANS_PER_ROUND))
    tmp = tempfile.mkdtemp(prefix="vitaled-soak-")
    path = os.path.join(tmp, "scanner0")
    conf = ("[General]\nEnablePlugins = pcsc, serial\n\n[serial]\nDevices = %s/scanner*\n\n"
            "[Chips]\nReadTimeout = 20000\n" % tmp)
    toks = tokens(n_rounds * SCANS_PER_ROUND)
    try:
        rig = Rig(conf=conf, wrapper=VALGRIND if os.environ.get("VITALED_VALGRIND") else ())
        rig.start()
    except HarnessUnavailable as e:
        t.skip("soak", "no private pcscd here: %s" % e)
        t.done()
    watcher = sc = None
    try:
        sc = Scanner(path)
        rid = "serial-" + path
        rig.wait(r"reader %s: added \(qr-serial" % re.escape(rid))
        start = rig.mark()
        watcher = Watcher(rig.pcsc.env(rig.bus.env()), queriers=2)
        watcher.wait_ready()
        expected = {"qr": 0, "cards": []}
        for n in range(n_rounds):
            one_round(rig, n, sc, toks, expected)
        # Every scan has its verdict before we look.
        pos = start
        for _ in range(expected["qr"]):
            pos += rig.wait(r"reader %s: card \d+: " % re.escape(rid), pos, 60).end()
        # The client releases phone reads when done: wait for every read to go.
        log = rig.log()[start:]
        reads = {int(m.group(2)) for m in INSERTED.finditer(log)}
        for serial in sorted(reads):
            rig.wait(r"card %d(?: removed|: released|: phone read lifetime)" % serial, start, 60)
        stats = watcher.finish()
        watcher = None
        log = rig.log()[start:]

        inserted = collections.defaultdict(list)
        path_of = {}
        for m in INSERTED.finditer(log):
            inserted[m.group(1)].append(int(m.group(2)))
            path_of[int(m.group(2))] = "/org/vitaled/cards/" + m.group(3)
        ends = collections.Counter()
        verdicts = {}
        for m in VERDICT.finditer(log):
            ends[int(m.group(2))] += 1
            verdicts[int(m.group(2))] = m.group(4)
        for m in ABANDONED.finditer(log):
            ends[int(m.group(2))] += 1
        gone = collections.Counter(int(m.group(1)) for m in GONE.finditer(log))

        for reader in (0, 1):
            mine = [s for r, s, _ in expected["cards"] if r == rig.ids[reader]]
            t.eq(inserted[rig.ids[reader]], mine,
                 "reader %d: each of its %d insertions is exactly one read" % (reader, len(mine)))
        t.eq(len(inserted[rid]), expected["qr"],
             "each of the %d tokens scanned is exactly one read" % expected["qr"])
        all_reads = [s for v in inserted.values() for s in v]
        t.eq(sorted(s for s in all_reads if ends[s] != 1), [],
             "every one of the %d reads ended exactly once (verdict or abandoned)" % len(all_reads))
        t.eq(sorted(s for s in all_reads if gone[s] != 1), [],
             "every read was wiped exactly once (pulled or released)")
        wrong = [(s, verdicts.get(s), want) for _, s, want in expected["cards"]
                 if want is not None and verdicts.get(s) != want]
        t.eq(wrong, [], "each card read to the end got the verdict of its variant")
        t.eq(sorted({verdicts.get(s) for s in inserted[rid]}), ["verified"],
             "every fresh token scanned was verified")
        # Pulled mid-read: abandoned, or a read-failed verdict when the
        # worker noticed first; never anything published.
        pulled = [s for _, s, v in expected["cards"] if v is None]
        t.eq([(s, verdicts.get(s)) for s in pulled if verdicts.get(s) not in (None, "read-failed")],
             [], "the %d cards pulled mid-read were abandoned or failed (%d abandoned)"
             % (len(pulled), len(ABANDONED.findall(log))))

        t.ok(stats is not None, "the D-Bus client ran to the end")
        stats = stats or {}
        paths = sorted(path_of[s] for s in all_reads)
        t.eq(sorted(stats.get("added", [])), paths,
             "the client saw one Card1 object appear per read")
        t.eq(sorted(stats.get("removed", [])), paths,
             "and each of them disappear again")
        t.eq(stats.get("left"), [], "no Card1 object is left on the bus")
        t.eq([s for s in pulled if stats.get("status", {}).get(path_of[s])
              not in ("pending", "read-failed")], [],
             "the client saw no verdict with data for a card pulled mid-read")
        t.eq(stats.get("initial"), [], "none was there before")
        phones = [p for p, f in stats.get("form", {}).items() if f.startswith("phone-")]
        t.eq(stats.get("released"), len(phones),
             "the client released every phone read (%d, QR and NFC) itself" % len(phones))
        # A data call races the soak's own pulls and the client's own
        # Release: the card may go while the caller's credentials are being
        # checked, and the documented answer is then Error.Gone.  Every call
        # gets data or Gone; nothing else is acceptable.
        errors = dict(stats.get("data_errors", {}))
        gone = errors.pop("org.vitaled.Error.Gone", 0)
        t.ok(stats.get("data_calls", 0) > 0 and not errors and
             stats.get("data_ok", 0) + gone == stats.get("data_calls", 0),
             "its %d data calls were all answered: %d with data, %d Gone (card pulled or "
             "released meanwhile); other errors: %s"
             % (stats.get("data_calls", 0), stats.get("data_ok", 0), gone, errors))
        t.ok(stats.get("queries", 0) > 0 and not stats.get("query_errors"),
             "%d GetManagedObjects queries meanwhile, none failed (errors: %s)"
             % (stats.get("queries", 0), stats.get("query_errors")))
        leaked = sorted(s for s in family_strings("reference") | family_strings("legacy")
                        if s in log)
        t.eq(leaked, [], "no name, NIR or member number anywhere in the soak's log")
        t.diag("reads: %d, data calls: %d, queries: %d"
               % (len(all_reads), stats.get("data_calls", 0), stats.get("queries", 0)))
    except Exception:  # noqa: BLE001 - a dead daemon is a failure; its report follows
        t.ok(False, "the soak ran to the end", traceback.format_exc())
    finally:
        if watcher:
            watcher.kill()
        if sc:
            sc.unplug()
        status = rig.daemon.stop() if rig.daemon else None
        full = rig.log() if rig.daemon else ""
        rig.stop()
    t.eq(status, 0, "the daemon exits with status 0 on SIGTERM")
    report = SANITIZER.search(full)
    t.ok(report is None, "no sanitizer report (leaks included) at exit")
    if report:
        t.diag(full[report.start():report.start() + 3000])
    t.done()


if __name__ == "__main__":
    main()
