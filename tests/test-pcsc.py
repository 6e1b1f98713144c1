#!/usr/bin/python3
"""PC/SC source: every profile inserted and removed through the real pcscd.

A private pcscd with the two vpcd readers, the emulators of tests/emu, a
private session bus and vitaled --debug, observed through its log lines.
Records the APDU count of each profile (see doc/pcsc.md).
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest.tap import Tap  # noqa: E402
from vtest.cardrig import Rig, HarnessUnavailable, family_strings  # noqa: E402
from vtest.daemon import threads_woken  # noqa: E402

APDUS = {}


def fnv_id(name):
    """The id the plugin derives: FNV-1a of the name without ' XX YY'."""
    base, slot = name, 0
    m = re.match(r"^(.*) ([0-9A-Fa-f]{2}) ([0-9A-Fa-f]{2})$", name)
    if m:
        base, slot = m.group(1), int(m.group(3), 16)
    h = 2166136261
    for b in base.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return "pcsc-%08x-%d" % (h, slot)


def test_readers(t, rig):
    t.eq(rig.ids, [fnv_id(n) for n in rig.pcsc.readers],
         "readers announced with ids derived from the name, not the index")
    t.ok(rig.ids[0] != rig.ids[1], "the two slots have different ids")
    log = rig.log()
    t.ok(re.search(r'added \(contact, "Virtual PCD 00 00"\)', log), "vpcd slot is a contact reader")
    t.ok("pcsc: pcscd is reachable" in log, "pcscd reachable logged")
    t.eq(rig.prop("/org/vitaled", "Manager1", "PcscAvailable"), True,
         "D-Bus: Manager1.PcscAvailable")
    on_bus = rig.readers_on_bus()
    t.eq(sorted((i, on_bus.get(i, {}).get("Kind"), on_bus.get(i, {}).get("State"))
                for i in rig.ids),
         sorted((i, "contact", "idle") for i in rig.ids), "D-Bus: Reader1 Id, Kind, State")


def read_profile(t, rig, profile, want_form, want_status, variant="reference", reader=0):
    at = rig.mark()
    rig.insert(reader, profile=profile, variant=variant)
    v = rig.verdict(reader, at)
    t.eq((v["form"], v["status"]), (want_form, want_status),
         "%s/%s: %s %s (%s)" % (profile, variant, want_form, want_status, v["reason"]))
    t.ok(v["apdus"] > 0, "%s/%s: %d APDUs" % (profile, variant, v["apdus"]))
    APDUS.setdefault("%s/%s" % (profile, variant), v["apdus"])
    # one insertion, one verdict: nothing re-reads a card that stays
    time.sleep(1.0)
    t.eq(len(rig.verdicts(at, reader)), 1, "%s/%s: reported once" % (profile, variant))
    at = rig.mark()
    rig.remove(reader)
    # a phone's read outlives the tap (PhoneReadLifetime): the reader goes idle
    t.ok(rig.wait(r"reader %s: (card %d removed, data wiped|idle)"
                  % (re.escape(rig.ids[reader]), v["card"]), at),
         "%s/%s: removal seen" % (profile, variant))
    return v


def test_profiles(t, rig):
    read_profile(t, rig, "card", "card", "verified")
    # the phone's read outlives the tap (PhoneReadLifetime), but the
    # reader is free again
    at = rig.mark()
    read_profile(t, rig, "phone", "phone-nfc", "verified")
    t.ok(re.search(r"reader %s: contactless$" % re.escape(rig.ids[0]), rig.log()[at:], re.M),
         "a contactless ATR makes the slot a contactless reader")
    read_profile(t, rig, "legacy", "legacy-card", "unverifiable")
    # a Vitale 2 answering 67 00 instead of 6C XX to Le=00
    v = read_profile(t, rig, "legacy", "legacy-card", "unverifiable", variant="sw6700")
    t.ok("67 00 to Le=00" in v["reason"], "legacy/sw6700: the reason says what happened",
         v["reason"])
    # a card that is not a health card: one plain verdict, no error loop
    v = read_profile(t, rig, "iso7816", "card", "unsupported")
    t.ok(not re.search(r"0x|[0-9A-F]{4}", v["reason"]), "plain words: %s" % v["reason"])


def test_protocols(t, rig):
    # T=0 with 6C XX / 61 XX, and 61 XX / 6C XX under T=1
    for variant in ("t0", "sw61", "sw6c"):
        read_profile(t, rig, "card", "card", "verified", variant=variant, reader=1)


def test_card_data_wiped_on_removal(t, rig):
    at = rig.mark()
    rig.insert(0, profile="card")
    v = rig.verdict(0, at)
    rig.remove(0)
    t.ok(rig.wait(r"reader %s: card %d removed, data wiped" % (re.escape(rig.ids[0]), v["card"]),
                  at), "a pulled card's data is wiped")
    rig.wait(r"reader %s: idle" % re.escape(rig.ids[0]), at)
    # and the next insertion is a new read
    at = rig.mark()
    rig.insert(0, profile="card")
    v2 = rig.verdict(0, at)
    t.ok(v2["card"] != v["card"] and v2["status"] == "verified", "next insertion reads afresh")
    rig.remove(0, v2["card"])


def test_no_personal_data(t, rig):
    log = rig.log()
    leaked = [s for s in family_strings("reference") | family_strings("legacy") if s in log]
    t.eq(leaked, [], "no name, NIR or member number in the log")


def test_stable_across_restarts(t, rig):
    ids = list(rig.ids)
    status, report = rig.finish()
    t.eq(status, 0, "vitaled exits cleanly")
    t.eq(report, [], "no sanitizer report")
    rig.start_vitaled()
    t.eq(rig.ids, ids, "same reader ids after a daemon restart")


def test_idle_without_wakeups(t, rig):
    # Longer than libpcsclite's 60 s turn of an INFINITE wait, which used to
    # wake the monitor thread every minute with readers present.
    time.sleep(2.0)
    woke = threads_woken(rig.pid(), 65.0)
    t.eq(woke, {}, "no thread wakes in 65 s idle with %d readers present" % len(rig.ids))


def test_ignore_readers(t):
    with Rig(conf="[pcsc]\nIgnoreReaders = nothing, PCD 00 01\n", readers=(0,)) as rig:
        at = rig.mark()
        rig.pcsc.insert(1, profile="card", wait=False)
        rig.insert(0, profile="card")
        t.eq(rig.verdict(0, at)["status"], "verified", "the other reader works")
        t.ok("Virtual PCD 00 01" not in rig.log(), "IgnoreReaders leaves that reader alone")


def main():
    t = Tap()
    try:
        rig = Rig(conf="[Chips]\nReadTimeout = 10000\n")
        rig.start()
    except HarnessUnavailable as e:
        t.skip("pcsc source", str(e))
        t.done()
    with rig:
        for test in (test_readers, test_profiles, test_protocols,
                     test_card_data_wiped_on_removal, test_no_personal_data,
                     test_stable_across_restarts, test_idle_without_wakeups):
            t.run(test, rig)
    t.run(test_ignore_readers)
    t.diag("APDUs per profile: " + ", ".join("%s=%d" % kv for kv in sorted(APDUS.items())))
    t.done()


if __name__ == "__main__":
    main()
