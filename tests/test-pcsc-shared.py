#!/usr/bin/python3
"""The card reader shared with another PC/SC application (the practice's
billing software): real pcscd, vpcd, the emulators of tests/emu and a
second client process (tests/pcsc/other-app.py, pyscard) on the same
reader as vitaled.

Another application holding the card exclusively, or in a transaction,
when vitaled wants to read it: Card1 says "waiting", the read starts when
the card is free and gives exactly one verdict, never read-failed for a
card that was only busy.  Killed while holding the card: the same.  Many
short transactions beside vitaled's read: both complete, neither corrupts
the other's APDU sequence.  [pcsc] BusyWaitMax: then the verdict names
the cause, once.  vitaled never connects exclusively and does not read a
card again because someone else used it.
"""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest.tap import Tap  # noqa: E402
from vtest.cardrig import Rig, HarnessUnavailable, CARD_LINE  # noqa: E402
from vtest.daemon import threads_woken  # noqa: E402
from vtest import proc  # noqa: E402
from smartcard import scard  # noqa: E402  (Debian's /usr/bin/python3)

SRCDIR = os.environ.get("top_srcdir", ".")
OTHER_APP = os.path.join(SRCDIR, "tests", "pcsc", "other-app.py")
TIMEOUT_MS = 4000
HOLD_S = 6          # longer than ReadTimeout + the watchdog's grace
CONF = "[Chips]\nReadTimeout = %d\n" % TIMEOUT_MS
WAITING = "another application is using the card"


class Other:
    """The second PC/SC application, in its own process."""

    def __init__(self, rig, reader=0):
        self.proc = subprocess.Popen(["/usr/bin/python3", OTHER_APP, rig.pcsc.readers[reader]],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=rig.pcsc.env(), preexec_fn=proc.pdeathsig)

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def answer(self):
        return self.proc.stdout.readline().decode().strip()

    def ask(self, line):
        self.send(line)
        answer = self.answer()
        if not answer.startswith("ok"):
            raise RuntimeError("other application: %s: %r" % (line, answer))
        return answer[3:]

    def close(self):
        proc.kill(self.proc)


def rid(rig, reader=0):
    return re.escape(rig.ids[reader])


def cards_on_bus(rig):
    objs = rig.busctl("call", "org.vitaled", "/org/vitaled",
                      "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")[0]
    return {path: {k: v["data"] for k, v in ifaces["org.vitaled.Card1"].items()}
            for path, ifaces in objs.items() if "org.vitaled.Card1" in ifaces}


def restart(rig, card=True):
    """vitaled stopped; a card in reader 0 (vitaled will see it at start),
    or with card=False none."""
    if rig.daemon and rig.daemon.proc and rig.daemon.proc.poll() is None:
        status, report = rig.finish()
        if status or report:
            raise RuntimeError("vitaled did not stop cleanly: %s %s" % (status, report))
    if card and 0 not in rig.pcsc.cards:
        rig.pcsc.insert(0, profile="card")
    elif not card:
        rig.pcsc.remove(0)


def holding(rig, mode):
    """vitaled stopped, a card in reader 0, another application holding it
    (mode: exclusive, or transaction: a shared connection and an open
    transaction), and vitaled started: it meets the card held."""
    restart(rig)
    other = Other(rig)
    try:
        other.ask("connect " + ("exclusive" if mode == "exclusive" else "shared"))
        if mode == "transaction":
            other.ask("begin")
        rig.start_vitaled()
    except Exception:
        other.close()
        raise
    return other


def one_verdict(t, rig, what, status="verified", settle=2.0):
    """The one verdict of reader 0 in this daemon's log, after a pause in
    which no second one may come."""
    v = rig.verdict(0, 0, timeout=60)
    time.sleep(settle)
    all_ = rig.verdicts(0, 0)
    t.eq([(x["status"]) for x in all_], [status],
         "%s: exactly one verdict, %s (%s)" % (what, status, v["reason"]))
    t.ok("did not answer" not in v["reason"] and "timed out" not in v["reason"],
         "%s: the wait was not counted as the card's time" % what, v["reason"])
    t.ok(not re.search(r"card \d+ inserted, reading", rig.log()[v["at"]:]),
         "%s: the card was not read again" % what)
    return v


def waiting_seen(t, rig, what):
    m = rig.wait(r"reader %s: card (\d+) waiting: (.*)$" % rid(rig), 0, timeout=30)
    t.eq(m.group(2), WAITING, "%s: the log says the card waits for another application" % what)
    cards = cards_on_bus(rig)
    t.eq([(c["State"], c["Status"], c["StatusReason"]) for c in cards.values()],
         [("waiting", "pending", WAITING)], "%s: Card1 State waiting, reason in plain words"
         % what)
    t.eq(rig.verdicts(0, 0), [], "%s: nothing published while waiting" % what)


def vitalectl(rig, *args, **kw):
    return subprocess.Popen([os.path.join(os.environ.get("top_builddir", "."), "tools",
                                          "vitalectl"), "--session"] + list(args),
                            env=dict(os.environ, **rig.bus.env()), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=proc.pdeathsig, **kw)


def vitalectl_shows_waiting(t, rig):
    out = vitalectl(rig, "readers").communicate(timeout=30)[0]
    t.ok(re.search(r"^\S+\s+card-present\s+waiting .*\n\s+waiting: %s$" % WAITING, out, re.M),
         "vitalectl readers: waiting: %s" % WAITING, out)
    watch = vitalectl(rig, "watch")
    try:
        lines = []
        for _ in range(10):
            lines.append(watch.stdout.readline())
            if "waiting:" in lines[-1]:
                break
        t.ok(re.search(r"waiting: %s \(Virtual PCD 00 00\)$" % WAITING, lines[-1]),
             "vitalectl watch: waiting: %s" % WAITING, "".join(lines))
    finally:
        proc.kill(watch)
    diag = json.loads(vitalectl(rig, "--json", "diag").communicate(timeout=60)[0])
    card = [c for c in diag["checks"] if c["check"] == "card in " + rig.pcsc.readers[0]]
    t.ok(card and card[0]["result"] == "warn" and WAITING in card[0]["detail"]
         and "ss -xp" in card[0]["fix"], "vitalectl diag: the card waits, and how to find the "
         "application holding it", card)


def test_exclusive_at_start(t, rig):
    other = holding(rig, "exclusive")
    try:
        waiting_seen(t, rig, "exclusive")
        t.ok(rig.wait(r"another application holds the card exclusively; waiting for pcscd",
                      0), "exclusive: the log names the exclusive connection")
        vitalectl_shows_waiting(t, rig)
        # waiting for pcscd's state change, not polling: only the worker
        # wakes, for its few re-checks (0.5 s doubling to 8 s: pcscd can
        # miss a release); a 100 ms polling loop would wake it ~30 times
        # in 3 s, with several context switches each
        time.sleep(0.5)
        woke = threads_woken(rig.pid(), 3.0)
        t.diag("context switches while waiting 3 s: %s" % (woke or "none"))
        t.ok(len(woke) <= 1 and sum(woke.values()) <= 30,
             "exclusive: only the waiting worker wakes, a few times", woke)
        at = rig.mark()
        other.ask("disconnect")
        t.ok(rig.wait(r"reader %s: card \d+ is free; reading" % rid(rig), at),
             "exclusive: read as soon as pcscd reports the card free")
        one_verdict(t, rig, "exclusive")
    finally:
        other.close()


def test_transaction_at_start(t, rig):
    restart(rig)
    other = Other(rig)
    try:
        other.ask("connect shared")
        ref = other.ask("reference")
        other.ask("begin")
        rig.start_vitaled()
        started = time.monotonic()
        waiting_seen(t, rig, "transaction")
        t.ok(rig.wait(r"another application's transaction is under way", 0),
             "transaction: the log names the transaction")
        time.sleep(max(0.0, HOLD_S - (time.monotonic() - started)))
        t.eq(rig.verdicts(0, 0), [], "transaction: nothing published in %d s" % HOLD_S)
        t.eq(other.ask("apdus"), ref, "transaction: the other application's APDUs undisturbed")
        at = rig.mark()
        other.ask("end")
        t.ok(rig.wait(r"reader %s: card \d+ is free; reading" % rid(rig), at),
             "transaction: read once the transaction ended")
        one_verdict(t, rig, "transaction")
        other.ask("disconnect")
    finally:
        other.close()


def test_short_transactions(t, rig):
    restart(rig)
    other = Other(rig)
    try:
        other.ask("connect shared")
        ref = other.ask("reference")
        for rnd in range(3):
            restart(rig)
            other.send("burst 4")
            rig.start_vitaled()
            answer = other.answer()
            t.ok(answer.startswith("ok ") and int(answer.split()[1]) > 0,
                 "round %d: the other application's transactions all answered as before"
                 " (%s)" % (rnd + 1, answer))
            one_verdict(t, rig, "round %d beside short transactions" % (rnd + 1), settle=0.5)
        t.eq(other.ask("apdus"), ref, "the other application's sequence still answers the same")
        other.ask("disconnect")
    finally:
        other.close()


def test_killed_while_holding(t, rig):
    for mode in ("exclusive", "transaction"):
        other = holding(rig, mode)
        try:
            waiting_seen(t, rig, "killed holding (%s)" % mode)
        finally:
            other.close()
        one_verdict(t, rig, "holder killed (%s)" % mode)


def test_stopped_while_waiting(t, rig):
    # SIGTERM while the worker waits for another application: a clean exit
    for mode in ("exclusive", "transaction"):
        other = holding(rig, mode)
        try:
            rig.wait(r"reader %s: card \d+ waiting: " % rid(rig), 0)
            status, report = rig.finish()
            t.eq((status, report), (0, []), "stopped while waiting (%s): clean exit, no "
                 "sanitizer report" % mode)
            t.eq(rig.verdicts(0, 0), [], "stopped while waiting (%s): nothing published" % mode)
        finally:
            other.close()


def test_longest_wait(t, rig):
    conf = rig.conf
    rig.conf = conf + "[pcsc]\nBusyWaitMax = 2\n"
    try:
        for mode, cause in (("exclusive", "another application held the card exclusively "
                                          "for more than 2 s"),
                            ("transaction", "another application kept a transaction open on "
                                            "the card for more than 2 s")):
            other = holding(rig, mode)
            try:
                v = rig.verdict(0, 0, timeout=30)
                t.eq((v["status"], v["reason"]), ("read-failed", cause),
                     "BusyWaitMax over (%s): the verdict names the cause" % mode)
                if mode == "transaction":
                    other.ask("end")
                other.ask("disconnect")
                time.sleep(2.0)
                t.eq(len(rig.verdicts(0, 0)), 1,
                     "BusyWaitMax over (%s): reported once, not read again when the other "
                     "application let go" % mode)
            finally:
                other.close()
    finally:
        rig.conf = conf


def test_polite(t, rig):
    # vitaled's connection is shared (pcscd shows INUSE, not EXCLUSIVE,
    # while it reads), and another application's use of the card, a reset
    # included, is no new card
    restart(rig, card=False)
    rig.start_vitaled()
    at = rig.mark()
    card = rig.insert(0, profile="card", variant="slow")    # 0.2 s per APDU
    time.sleep(1.0)
    state = rig.pcsc.state(0)
    t.ok(state & scard.SCARD_STATE_INUSE and not state & scard.SCARD_STATE_EXCLUSIVE
         and not rig.verdicts(at, 0), "while vitaled reads, pcscd shows the card in shared use",
         hex(state))
    v = rig.verdict(0, at)
    t.eq((v["card"], v["status"]), (card, "verified"), "and vitaled's read completed")
    other = Other(rig)
    try:
        other.ask("connect shared")
        for _ in range(3):
            other.ask("begin")
            other.ask("apdus")
            other.ask("end")
        other.ask("disconnect reset")
        other.ask("connect exclusive")
        other.ask("disconnect")
        time.sleep(2.0)
        t.eq(len(CARD_LINE.findall(rig.log()[at:])), 1,
             "another application's use of the card (a reset too) is not a new card")
    finally:
        other.close()
    rig.remove(0, card)


def main():
    t = Tap()
    try:
        rig = Rig(conf=CONF)
        rig.start()
    except HarnessUnavailable as e:
        t.skip("pcsc shared", str(e))
        t.done()
    with rig:
        for test in (test_exclusive_at_start, test_transaction_at_start,
                     test_short_transactions, test_killed_while_holding,
                     test_stopped_while_waiting, test_longest_wait,
                     test_polite):
            t.run(test, rig)
        status, report = rig.finish()
        t.eq(status, 0, "vitaled exits cleanly")
        t.eq(report, [], "no sanitizer report")
    t.done()


if __name__ == "__main__":
    main()
