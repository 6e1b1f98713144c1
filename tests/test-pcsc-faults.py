#!/usr/bin/python3
"""PC/SC source under faults, through the real pcscd and real emulators.

Two readers at once (a slow card does not delay the other), a card that is
too slow and one that hangs (per-read timeout), a card pulled mid-read,
cards answering garbage, pcscd killed (idle and mid-read) and restarted,
and a stale handle after a real reset by another application.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest.tap import Tap  # noqa: E402
from vtest.cardrig import Rig, HarnessUnavailable, cpu_ticks  # noqa: E402
from vtest.daemon import context_switches  # noqa: E402

TIMEOUT_MS = 4000
CONF = "[Chips]\nReadTimeout = %d\n" % TIMEOUT_MS


def rid(rig, reader):
    return re.escape(rig.ids[reader])


def verdict_of(rig, card, start):
    for v in rig.verdicts(start):
        if v["card"] == card:
            return v
    return None


def test_two_readers(t, rig):
    at = rig.mark()
    slow = rig.insert(1, profile="card", variant="slow")      # 0.2 s per APDU
    fast = rig.insert(0, profile="card")
    v_fast = rig.verdict(0, at)
    t.ok(verdict_of(rig, slow, at) is None,
         "reader 0 verified while reader 1's slow card is still being read")
    v_slow = rig.verdict(1, at)
    t.eq((v_fast["card"], v_fast["status"]), (fast, "verified"), "fast card verified")
    t.eq((v_slow["card"], v_slow["status"]), (slow, "verified"), "slow card verified too")
    t.ok(v_fast["ms"] * 3 < v_slow["ms"],
         "the slow card did not hold up the other reader (%d ms vs %d ms)"
         % (v_fast["ms"], v_slow["ms"]))
    rig.remove(0, fast)
    rig.remove(1, slow)


def test_too_slow(t, rig):
    at = rig.mark()
    card = rig.insert(0, profile="card", args=("--delay", "0.6"))  # 12 APDUs: 7 s
    v = rig.verdict(0, at, timeout=TIMEOUT_MS / 1000 + 30)
    t.eq((v["card"], v["status"]), (card, "read-failed"), "too slow a card: read-failed (%s)"
         % v["reason"])
    time.sleep(2)
    t.eq(len(rig.verdicts(at, 0)), 1, "reported once, not retried in a loop")
    rig.remove(0, card)


def test_hung_card(t, rig):
    at = rig.mark()
    card = rig.insert(0, profile="card", args=("--delay", "120"))  # never answers
    v = rig.verdict(0, at, timeout=TIMEOUT_MS / 1000 + 30)
    t.eq((v["card"], v["status"]), (card, "read-failed"), "hung card: read-failed (%s)"
         % v["reason"])
    t.ok(rig.wait(r"reader %s: the card stopped answering; read abandoned" % rid(rig, 0), at),
         "the hung read was abandoned")
    # the other reader is not affected meanwhile
    other = rig.insert(1, profile="card")
    t.eq(rig.verdict(1, at)["status"], "verified", "other reader reads while one card hangs")
    rig.remove(1, other)
    rig.remove(0, card)
    at = rig.mark()
    rig.insert(0, profile="card")
    t.eq(rig.verdict(0, at)["status"], "verified", "the reader reads again after the hung card")
    rig.remove(0)


def test_hung_legacy_card(t, rig):
    """A read given up in flight names the profile it saw and the APDUs it sent."""
    at = rig.mark()
    # legacy path: SELECT MF, READ (6C XX), READ, SELECT VITALE, READ (6C XX): the 6th hangs
    card = rig.insert(0, profile="legacy", args=("--stall-after", "5"))
    v = rig.verdict(0, at, timeout=TIMEOUT_MS / 1000 + 30)
    t.eq((v["card"], v["form"], v["status"], v["apdus"]), (card, "legacy-card", "read-failed", 6),
         "hung legacy card: legacy-card, read-failed, 6 APDUs (%s)" % v["reason"])
    t.ok(rig.wait(r"reader %s: the card stopped answering; read abandoned" % rid(rig, 0), at),
         "the hung legacy read was abandoned by the watchdog")
    rig.remove(0, card)


def test_pulled_mid_read(t, rig):
    # the card vanishes by itself after 3 APDUs
    at = rig.mark()
    card = rig.insert(0, profile="card", variant="vanish")
    t.ok(rig.wait(r"reader %s: card %d removed before the read finished; nothing published"
                  % (rid(rig, 0), card), at), "vanishing card: nothing published")
    t.ok(verdict_of(rig, card, at) is None, "no verdict for the vanished card")
    # the test pulls a slow card in the middle of its read
    at = rig.mark()
    card = rig.insert(0, profile="card", variant="slow")
    time.sleep(0.8)
    rig.remove(0)
    t.ok(rig.wait(r"reader %s: card %d removed before the read finished; nothing published"
                  % (rid(rig, 0), card), at), "pulled card: nothing published")
    time.sleep(1.0)
    t.ok(verdict_of(rig, card, at) is None, "no verdict for the pulled card, even later")
    at = rig.mark()
    card = rig.insert(0, profile="card")
    v = rig.verdict(0, at)
    t.eq((v["card"], v["status"]), (card, "verified"), "next insertion reads afresh")
    rig.remove(0, card)


def test_garbage(t, rig):
    for variant in ("random", "tlv-truncated", "tlv-overlong", "nest-bomb"):
        at = rig.mark()
        bad = rig.insert(1, profile="card", variant=variant)
        good = rig.insert(0, profile="card")
        v_bad = rig.verdict(1, at)
        v_good = rig.verdict(0, at)
        t.eq((v_bad["card"], v_bad["status"]), (bad, "malformed"),
             "%s: malformed (%s)" % (variant, v_bad["reason"]))
        t.eq((v_good["card"], v_good["status"]), (good, "verified"),
             "%s: the other reader is unaffected" % variant)
        rig.remove(1, bad)
        rig.remove(0, good)
    t.ok(rig.daemon.proc.poll() is None, "the daemon is still running")


def test_pcscd_restart(t, rig):
    at = rig.mark()
    card = rig.insert(0, profile="card")
    rig.verdict(0, at)
    at = rig.mark()
    rig.pcsc.kill_pcscd()
    rig.wait(r"pcsc: pcscd is not reachable", at)
    t.ok(rig.wait(r"reader %s: card %d removed, data wiped" % (rid(rig, 0), card), at),
         "pcscd gone: the card's data is wiped")
    t.ok(rig.wait(r"reader %s: unavailable" % rid(rig, 1), at), "readers marked unavailable")
    t.eq(rig.prop("/org/vitaled", "Manager1", "PcscAvailable"), False,
         "D-Bus: PcscAvailable false while pcscd is away")
    t.eq({i: r["State"] for i, r in rig.readers_on_bus().items() if i in rig.ids},
         {i: "unavailable" for i in rig.ids}, "D-Bus: readers unavailable, not gone")
    time.sleep(1.0)     # let the back-off settle into its long waits
    pid = rig.pid()
    ticks, switches = cpu_ticks(pid), context_switches(pid)
    time.sleep(5.0)
    ticks, switches = cpu_ticks(pid) - ticks, context_switches(pid) - switches
    t.ok(ticks <= 3, "near-zero CPU while pcscd is away (%d ticks in 5 s)" % ticks)
    t.ok(switches <= 20, "no spinning while pcscd is away (%d wake-ups in 5 s)" % switches)
    at = rig.mark()
    rig.pcsc.start_pcscd()
    rig.wait(r"pcsc: pcscd is reachable", at)
    rig.wait(r"reader %s: idle" % rid(rig, 0), at)
    rig.wait(r"reader %s: idle" % rid(rig, 1), at)
    t.ok(not re.search(r"added \(", rig.log()[at:]), "readers come back as the same objects")
    t.eq(rig.prop("/org/vitaled", "Manager1", "PcscAvailable"), True,
         "D-Bus: PcscAvailable true again")
    card = rig.insert(0, profile="card")
    v = rig.verdict(0, at)
    t.eq((v["card"], v["status"]), (card, "verified"), "cards read again after the restart")
    rig.remove(0, card)


def test_pcscd_killed_mid_read(t, rig):
    at = rig.mark()
    card = rig.insert(0, profile="card", variant="slow")
    time.sleep(0.8)
    rig.pcsc.kill_pcscd()
    t.ok(rig.wait(r"reader %s: card %d removed before the read finished; nothing published"
                  % (rid(rig, 0), card), at), "pcscd killed mid-read: nothing published")
    rig.pcsc.start_pcscd()
    rig.wait(r"pcsc: pcscd is reachable", at)
    at = rig.mark()
    card = rig.insert(0, profile="card")
    t.eq(rig.verdict(0, at)["status"], "verified", "reads again after pcscd came back")
    rig.remove(0, card)


def test_reset_reconnect(t):
    shim = os.path.join(os.environ.get("top_builddir", "."), "tests", "pcsc", ".libs",
                        "reset-inject.so")
    if not os.path.exists(shim):
        t.skip("stale handle after a reset", "%s not built" % shim)
        return
    env = {"LD_PRELOAD": shim, "VTEST_RESET_BEFORE_TRANSACTION": "1",
           "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
    with Rig(conf=CONF, env=env) as rig:
        at = rig.mark()
        card = rig.insert(0, profile="card")
        v = rig.verdict(0, at)
        t.ok(rig.wait(r"reader %s: the card was reset by another application; reconnected"
                      % rid(rig, 0), at), "stale handle after a reset: SCardReconnect")
        t.eq((v["card"], v["status"]), (card, "verified"), "and the read completes: verified")
        rig.remove(0, card)


def test_started_before_pcscd(t, rig):
    # vitaled starts while pcscd is down: the readers come when pcscd does
    ids = list(rig.ids)
    rig.pcsc.kill_pcscd()
    rig.finish()
    wanted, rig.readers = rig.readers, ()
    rig.start_vitaled()
    rig.readers = wanted
    t.ok(rig.wait(r"pcsc: pcscd is not reachable"), "started without pcscd: said so")
    at = rig.mark()
    rig.pcsc.start_pcscd()
    rig.ids = [rig.reader_id(name, at) for name in rig.pcsc.readers]
    t.eq(rig.ids, ids, "readers discovered once pcscd is up, with the same ids")
    at = rig.mark()
    card = rig.insert(0, profile="card")
    t.eq(rig.verdict(0, at)["status"], "verified", "and cards read")
    rig.remove(0, card)


def test_exit_with_hung_card(t, rig):
    # the last test: SIGTERM while a worker is stuck in a card that never answers
    at = rig.mark()
    rig.insert(0, profile="card", args=("--delay", "120"))
    rig.wait(r"reader %s: card-present" % rid(rig, 0), at)
    status, report = rig.finish()
    t.eq(status, 0, "vitaled exits cleanly with a card hung in a reader")
    t.eq(report, [], "no sanitizer report")


def main():
    t = Tap()
    try:
        rig = Rig(conf=CONF)
        rig.start()
    except HarnessUnavailable as e:
        t.skip("pcsc faults", str(e))
        t.done()
    with rig:
        for test in (test_two_readers, test_too_slow, test_hung_card, test_hung_legacy_card,
                     test_pulled_mid_read,
                     test_garbage, test_pcscd_restart, test_pcscd_killed_mid_read,
                     test_started_before_pcscd, test_exit_with_hung_card):
            t.run(test, rig)
    t.run(test_reset_reconnect)
    t.done()


if __name__ == "__main__":
    main()
