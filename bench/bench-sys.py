#!/usr/bin/python3
"""System benchmark of vitaled (issue 10): idle wakeups and memory.

A private pcscd with --readers vpcd readers (no card), --scanners serial QR
scanners (ptys), a private session bus and the daemon (non-sanitizer build: the
numbers are the product's, not ASan's).

1. Idle: context switches of every daemon thread (/proc/PID/task/*/status,
   voluntary + involuntary) over --idle-seconds with readers present and
   no activity, as wakeups per minute.  Goal 0.
2. Memory: VmRSS idle against a floor measured in the same run
   (bench/bench-rss-floor: a process mapping the same shared libraries as
   the idle daemon and loading the same trust store with the same code,
   nothing else), and the daemon's own anonymous memory (RssAnon); after
   --warmup-cycles card cycles and
   --warmup-scans QR scans (first-use allocations: OpenSSL, thread stacks,
   D-Bus, the replay cache at its steady size); after --cycles insert/remove
   cycles in all (spread over the readers, each cycling on its own:
   vtest.cardrig.Cycler, one emulator process per reader plugged in and out
   through vpcd; each cycle waits for the read's verdict, then for the
   removal; only verified reads count, and insertions = verdicts = verified
   = removals = cycles is checked) and --scans QR scans of distinct valid
   tokens (10 s lifetime, over --scanners ptys: each scanner is
   rate-limited).  Growth = final - after warm-up.  Goals: idle RSS <= 1.15 x
   the floor, RssAnon <= 1.5 MiB, growth < 64 KiB.

Prints a human table and "bench-result: {json}" lines for bench/run.

    top_srcdir=... top_builddir=... /usr/bin/python3 bench/bench-sys.py \
        [--idle-seconds 60] [--cycles 10000] [--readers 2] [--scans 10000] \
        [--warmup-cycles 100] [--warmup-scans 1000] [--scanners 16]
    A card cycle in one reader takes ~0.8 s (pcscd polls each vpcd reader
    for presence every 400 ms), so readers cycle in parallel: 10,000 cycles
    take ~70 min with 2 readers, ~17 min with 8 (bench/run: --readers from
    BENCH_READERS, 8).  Progress lines ("progress: ...": cycles or scans
    done, RSS so far) keep a cut-short run readable.
"""
import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("top_srcdir") or os.path.dirname(HERE)
BUILDDIR = os.environ.get("top_builddir") or os.getcwd()
FLOOR = os.path.join(BUILDDIR, "bench", "bench-rss-floor")
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))

from vtest import pki  # noqa: E402
from vtest.cardrig import Rig, Cycler  # noqa: E402
from vtest.soak import Scanner, tokens  # noqa: E402

RSS_RATIO_GOAL = 1.15   # idle VmRSS / the floor's
ANON_GOAL_KIB = 1536    # idle RssAnon


def result(**kw):
    print("bench-result: " + json.dumps(kw), flush=True)


def rss_kib(pid, field="VmRSS"):
    """VmRSS, or RssAnon (the daemon's own memory, without the pages of
    shared libraries it maps)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def libraries(pid):
    """The shared libraries pid has mapped (ld.so aside: every process has
    it), in the order of its maps."""
    out = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            fields = line.split(None, 5)
            path = fields[5].strip() if len(fields) == 6 else ""
            name = os.path.basename(path)
            if (path.startswith("/") and re.search(r"\.so(\.|$)", name)
                    and not name.startswith("ld-linux") and path not in out):
                out.append(path)
    return out


def floor_rss(trust, libs):
    """(VmRSS, RssAnon) of bench-rss-floor with these libraries and trust
    directory, read once it has loaded them and sat quiet for 3 s."""
    p = subprocess.Popen([FLOOR, trust] + libs, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError("bench-rss-floor did not start (exit %s)" % p.wait(30))
        time.sleep(3)
        return rss_kib(p.pid), rss_kib(p.pid, "RssAnon")
    finally:
        p.stdin.close()
        p.wait(30)


def thread_switches(pid):
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
            out["%s/%s" % (tid, name)] = context_switches_tid(pid, tid)
        except FileNotFoundError:
            pass
    return out


def thread_waits(pid):
    """What each thread is blocked in (threads carry no names of their own):
    the kernel wait channel and the raw syscall line (number, first three
    arguments; on x86-64 232 = epoll_wait, 7 = poll with its timeout in ms
    third, 202 = futex)."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/wchan" % (pid, tid)) as f:
                wchan = f.read().strip()
            with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
                call = " ".join(f.read().split()[:4])
        except OSError:
            continue
        out[tid] = "%s; syscall %s" % (wchan, call)
    return out


def context_switches_tid(pid, tid):
    n = 0
    with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
        for line in f:
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                n += int(line.split()[1])
    return n


class LogTail:
    """Counts the daemon's log lines incrementally (the log grows to
    megabytes over 10,000 cycles: never re-read it whole)."""

    def __init__(self, path, daemon):
        self.f = open(path, errors="replace")
        self.f.seek(0, os.SEEK_END)
        self.daemon = daemon
        self.partial = ""
        self.count = {}
        self.recent = {}    # reader id -> its last log lines (for a report)

    def poll(self):
        data = self.f.read()
        if not data:
            return
        lines = (self.partial + data).split("\n")
        self.partial = lines.pop()
        for line in lines:
            m = re.search(r"reader (\S+): ", line)
            if m:
                self.recent.setdefault(m.group(1), collections.deque(maxlen=12)).append(line)
            m = re.search(r"reader (\S+): card \d+( inserted|: \S+, ([\w-]+)| removed)", line)
            if m:
                what = {" i": "inserted", ": ": "verdict", " r": "removed"}[m.group(2)[:2]]
                self.bump((m.group(1), what))
                if what == "verdict":
                    self.bump((m.group(1), m.group(3)))
            if "ERROR: AddressSanitizer" in line:
                raise RuntimeError("sanitizer report in the daemon's log")

    def bump(self, key):
        self.count[key] = self.count.get(key, 0) + 1

    def check(self):
        if self.daemon.proc.poll() is not None:
            raise RuntimeError("vitaled exited (%s)" % self.daemon.proc.returncode)
        self.poll()

    def wait(self, key, n, timeout=60):
        deadline = time.monotonic() + timeout
        while self.count.get(key, 0) < n:
            if time.monotonic() > deadline:
                raise TimeoutError("waited for %d %s lines, saw %d" % (n, key, self.count.get(key, 0)))
            time.sleep(0.002)
            self.check()


def counts(tail, ids, what):
    return sum(tail.count.get((i, what), 0) for i in ids)


def card_cycles(rig, tail, cyclers, n, pid, label, every=500, timeout=60):
    """n insert/remove cycles spread over the readers, each reader on its own
    (none waits for the slowest): a cycle plugs the chip in, waits for the
    read's verdict, pulls it and waits for the removal.  Only verified reads
    count; afterwards insertions, verdicts, verified verdicts and removals
    in these readers must each have grown by exactly n.  Prints a progress
    line every `every` cycles."""
    ids = [rig.ids[i] for i in range(len(cyclers))]
    base = {w: counts(tail, ids, w) for w in ("inserted", "verdict", "verified", "removed")}
    state = [None] * len(cyclers)   # None: empty; ("verdict"|"removed", count wanted, since)
    ins = [0] * len(cyclers)        # the reader's insertion lines when its cycle began
    anomalies = []
    started = done = 0
    t0 = time.monotonic()
    while done < n:
        busy = False
        for i, c in enumerate(cyclers):
            st = state[i]
            if st is None:
                if started < n:
                    ins[i] = tail.count.get((ids[i], "inserted"), 0)
                    state[i] = ("verdict", tail.count.get((ids[i], "verdict"), 0) + 1,
                                time.monotonic())
                    c.cmd("in")
                    started += 1
                    busy = True
                continue
            busy = True
            what, want, since = st
            if tail.count.get((ids[i], what), 0) < want:
                if time.monotonic() - since > timeout:
                    raise TimeoutError("reader %s: no %s line after %d s" % (ids[i], what, timeout))
                continue
            if what == "verdict":
                seen = tail.count.get((ids[i], "inserted"), 0) - ins[i]
                if seen != 1:
                    # one plug-in seen as more than one card: say where
                    anomalies.append("%s cycle %d, reader %s: %d insertion lines for one "
                                     "plug-in; its last lines:\n    %s"
                                     % (label, started, ids[i], seen,
                                        "\n    ".join(tail.recent.get(ids[i], []))))
                    print("progress: ANOMALY " + anomalies[-1], flush=True)
                state[i] = ("removed", tail.count.get((ids[i], "removed"), 0) + 1,
                            time.monotonic())
                c.cmd("out")
            else:
                state[i] = None
                done += 1
                if done % every == 0 or done == n:
                    ok = counts(tail, ids, "verified") - base["verified"]
                    print("progress: %s: %d/%d card cycles, %d reads verified so far, "
                          "RSS %d KiB, %.0f s" % (label, done, n, ok, rss_kib(pid),
                                                  time.monotonic() - t0), flush=True)
        if busy:
            time.sleep(0.002)
            tail.check()
    got = {w: counts(tail, ids, w) - v for w, v in base.items()}
    if any(v != n for v in got.values()):
        # the run goes on (its memory figures still mean something) and
        # fails at the end
        anomalies.append("%s: %d cycles but %r" % (label, n, got))
        print("progress: ANOMALY " + anomalies[-1], flush=True)
    return anomalies


def qr_scans(tail, scanners, toks, n, pid, label, every=2000):
    """n scans spread over the scanners, one code per scanner per round at
    most every QR_REFILL_MS (plugins/qrline.c rate-limits each scanner to
    4 codes a second after a burst of 8: a person cannot scan faster).
    Every scan must give one verified verdict."""
    ids = [rid for rid, _ in scanners]
    base = {w: counts(tail, ids, w) for w in ("verdict", "verified")}
    done = 0
    t0 = time.monotonic()
    while done < n:
        t1 = time.monotonic()
        batch = scanners[:n - done]
        want = [((rid, "verdict"), tail.count.get((rid, "verdict"), 0) + 1)
                for rid, _ in batch]
        for _, sc in batch:
            sc.scan(next(toks))
        for key, w in want:
            tail.wait(key, w)
        if done // every != (done + len(batch)) // every or done + len(batch) == n:
            print("progress: %s: %d/%d QR scans, %d verified, RSS %d KiB, %.0f s"
                  % (label, done + len(batch), n, counts(tail, ids, "verified") - base["verified"],
                     rss_kib(pid), time.monotonic() - t0), flush=True)
        done += len(batch)
        time.sleep(max(0.0, 0.26 - (time.monotonic() - t1)))
    got = {w: counts(tail, ids, w) - v for w, v in base.items()}
    if any(v != n for v in got.values()):
        raise RuntimeError("%s: %d scans but %r" % (label, n, got))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--idle-seconds", type=float, default=60)
    ap.add_argument("--cycles", type=int, default=10000,
                    help="card insert/remove cycles in all, spread over the readers")
    ap.add_argument("--readers", type=int, default=2,
                    help="vpcd readers cycling cards at once (even, 2 to 14)")
    ap.add_argument("--scans", type=int, default=10000)
    ap.add_argument("--warmup-cycles", type=int, default=100)
    ap.add_argument("--warmup-scans", type=int, default=1000,
                    help="enough for the replay cache to reach its steady size")
    ap.add_argument("--scanners", type=int, default=16)
    ap.add_argument("--pcscd-debug", action="store_true",
                    help="pcscd -d -a (its log is kept with the daemon's on an anomaly)")
    a = ap.parse_args()
    if a.readers < 2 or a.readers % 2 or a.readers > 14:
        ap.error("--readers: an even number from 2 to 14 (pcscd and the daemon: 15 at most)")
    if not os.access(FLOOR, os.X_OK):
        sys.exit("%s not built (make bench/bench-rss-floor)" % FLOOR)

    tmp = tempfile.mkdtemp(prefix="vitaled-bench-sys-")
    shm = tempfile.mkdtemp(prefix="vitaled-bench-state-", dir="/dev/shm")
    # Short-lived tokens and a small skew keep the replay cache (rewritten on
    # each accepted token) small (the skew stays above time()'s coarse clock
    # lagging Python's by a tick at a second's edge); it lives on tmpfs like /var/lib on a
    # clinic PC's SSD would not, but this measures memory, not fsync.
    conf = ("[General]\nEnablePlugins = pcsc, serial\nStateDirectory = %s\n\n"
            "[serial]\nDevices = %s/scanner*\n\n[Tokens]\nClockSkew = 2\nDuplicateWindow = 0\n\n"
            "[DBus]\nPhoneReadLifetime = 10\n" % (shm, tmp))
    rig = Rig(conf=conf, pcsc_readers=a.readers, readers=range(a.readers),
              pcsc_debug=a.pcscd_debug)
    cyclers = []
    scanners = []
    try:
        rig.start()
        pid = rig.pid()
        for i in range(a.scanners):
            path = os.path.join(tmp, "scanner%d" % i)
            scanners.append(("serial-" + path, Scanner(path)))
            rig.wait(r"reader %s: added" % re.escape(scanners[-1][0]))
        time.sleep(3)  # let start-up settle before counting

        before = thread_switches(pid)
        t0 = time.monotonic()
        time.sleep(a.idle_seconds)
        secs = time.monotonic() - t0
        after = thread_switches(pid)
        # every thread, the ones that never woke too (a thread born or gone
        # meanwhile counts from 0 / is left out)
        woke = {k: v - before.get(k, 0) for k, v in after.items()}
        per_min = sum(woke.values()) * 60.0 / secs
        waits = thread_waits(pid)
        idle_rss = rss_kib(pid)
        idle_anon = rss_kib(pid, "RssAnon")
        nthreads = len(after)
        libs = libraries(pid)
        floor, floor_anon = floor_rss(pki.trust_dir(), libs)

        tail = LogTail(rig.daemon.log_path, rig.daemon)
        print("progress: idle: %.1f wakeups/min, RSS %d KiB (floor %d KiB), RssAnon %d KiB"
              % (per_min, idle_rss, floor, idle_anon), flush=True)
        cyclers = [Cycler(rig, i) for i in range(a.readers)]
        # 10 s tokens: the replay cache holds ~10 s of scans at its steady size.
        toks = tokens(a.warmup_scans + a.scans, ttl=10)
        t0 = time.monotonic()
        anomalies = card_cycles(rig, tail, cyclers, a.warmup_cycles, pid, "warm-up")
        qr_scans(tail, scanners, toks, a.warmup_scans, pid, "warm-up")
        time.sleep(11)  # phone reads of the warm-up outlive their lifetime
        warm_rss = rss_kib(pid)
        print("progress: warm: RSS %d KiB" % warm_rss, flush=True)
        t1 = time.monotonic()
        anomalies += card_cycles(rig, tail, cyclers, a.cycles, pid, "cards")
        t_cards = time.monotonic() - t1
        time.sleep(2)  # quiet, like the other two readings (the loop trims malloc after 200 ms)
        cards_rss = rss_kib(pid)
        qr_scans(tail, scanners, toks, a.scans, pid, "scans")
        time.sleep(11)
        final_rss = rss_kib(pid)
        elapsed = time.monotonic() - t0
        print("progress: final: RSS %d KiB (growth %d KiB)" % (final_rss, final_rss - warm_rss),
              flush=True)
        for c in cyclers:
            c.close()
        cyclers = []
        for _, sc in scanners:
            sc.unplug()
        scanners = []
        status = rig.daemon.stop()
        log = rig.log()
        if anomalies:
            kept = os.path.join(tempfile.gettempdir(), "vitaled-bench-sys-%d" % os.getpid())
            os.makedirs(kept, exist_ok=True)
            shutil.copy(rig.daemon.log_path, os.path.join(kept, "vitaled.log"))
            with open(os.path.join(kept, "pcscd.log"), "w") as f:
                f.write(rig.pcsc.pcscd_log())
    finally:
        for c in cyclers:
            c.close()
        for _, sc in scanners:
            sc.unplug()
        rig.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)

    # the whole log again, independently of the counts kept while running
    inserted = re.findall(r"reader pcsc\S+: card \d+ inserted, reading", log)
    verdicts = re.findall(r"reader pcsc\S+: card \d+: \S+, ([\w-]+)", log)
    qr = re.findall(r"reader serial\S+: card \d+: phone-qr, ([\w-]+)", log)
    print("vitaled system benchmark (%s, %d CPUs)" % (time.strftime("%Y-%m-%d %H:%M:%S"),
                                                      os.cpu_count()))
    print("%-58s %12s %12s" % ("measure", "value", "goal"))
    print("%-58s %12.1f %12s" % ("idle wakeups/min (%d threads, %.0f s, %d+%d readers)"
                                 % (nthreads, secs, a.readers, a.scanners), per_min, "0"))
    for k, v in sorted(woke.items(), key=lambda kv: int(kv[0].split("/")[0])):
        print("  thread %-49s %12d  (%s)" % (k, v, waits.get(k.split("/")[0], "?")))
    print("%-58s %12d %12s" % ("RSS idle (KiB)", idle_rss, "<= %.2f x" % RSS_RATIO_GOAL))
    print("%-58s %12d" % ("  floor: %d libraries + trust store (KiB)" % len(libs), floor))
    print("%-58s %12.3f" % ("  ratio", idle_rss / floor))
    print("%-58s %12d %12s" % ("  of which anonymous (RssAnon, KiB)", idle_anon,
                               "<= %d" % ANON_GOAL_KIB))
    print("%-58s %12d" % ("  the floor's RssAnon (KiB)", floor_anon))
    print("%-58s %12d" % ("RSS after warm-up: %d cycles + %d scans (KiB)"
                          % (a.warmup_cycles, a.warmup_scans), warm_rss))
    print("%-58s %12d" % ("RSS after %d card cycles, %d readers (KiB)" % (a.cycles, a.readers),
                          cards_rss))
    print("%-58s %12d" % ("RSS after %d QR scans too (KiB)" % a.scans, final_rss))
    print("%-58s %12d %12s" % ("growth after the runs (KiB)", final_rss - warm_rss, "< 64"))
    print("card insertions: %d; card verdicts: %s; QR verdicts: %s; %.1f s for the %d cycles "
          "(%.0f ms each), %.1f s in all; daemon exit %s" % (
              len(inserted), {v: verdicts.count(v) for v in set(verdicts)},
              {v: qr.count(v) for v in set(qr)}, t_cards, a.cycles,
              1000.0 * t_cards / max(a.cycles, 1), elapsed, status))
    result(measure="idle wakeups per minute, %d card readers and %d serial scanners present"
           % (a.readers, a.scanners), value=round(per_min, 1),
           unit="/min", goal="0", ok=per_min == 0)
    ratio = idle_rss / floor
    result(measure="RSS idle vs a process with the same %d shared libraries and trust "
           "store, nothing else" % len(libs), value=idle_rss, unit="KiB", floor=floor,
           ratio=round(ratio, 3), goal="<= %.2f" % RSS_RATIO_GOAL, ok=ratio <= RSS_RATIO_GOAL)
    result(measure="the daemon's own memory idle: RssAnon (floor: the floor process's)",
           value=idle_anon, unit="KiB", floor=floor_anon, goal="<= %d KiB" % ANON_GOAL_KIB,
           ok=idle_anon <= ANON_GOAL_KIB)
    result(measure="RSS growth after %d card cycles (%d readers) and %d QR scans"
           % (a.cycles, a.readers, a.scans),
           value=final_rss - warm_rss, unit="KiB", goal="< 64", ok=final_rss - warm_rss < 64,
           detail="warm %d, after cards %d, final %d KiB" % (warm_rss, cards_rss, final_rss))
    bad = [v for v in verdicts if v != "verified"] + [v for v in qr if v != "verified"]
    cards = a.warmup_cycles + a.cycles
    scans = a.warmup_scans + a.scans
    for x in anomalies:
        print("ANOMALY " + x)
    if anomalies:
        print("the daemon's and pcscd's logs are kept in %s" % kept)
    if (bad or status != 0 or not len(inserted) == len(verdicts) == cards or len(qr) != scans
            or anomalies):
        print("WARNING: unexpected verdicts %r, exit status %s, %d insertions and %d verdicts "
              "for %d cycles, %d QR verdicts for %d scans"
              % (bad[:5], status, len(inserted), len(verdicts), cards, len(qr), scans))
        sys.exit(1)


if __name__ == "__main__":
    main()
