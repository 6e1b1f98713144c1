#!/usr/bin/python3
"""PC/SC source: 200 insert/remove cycles, then no leak.

Needs a leak checker, and says which one it used:
  - a sanitizer build (configure --enable-sanitizers): vitaled runs with
    LeakSanitizer, which reports at exit;
  - otherwise valgrind, if installed: vitaled runs under memcheck with
    --leak-check=full and fails on any definite or indirect leak or error.
Without either the test is skipped with the reason.  Cycles run on both
readers at once (a contact card and a phone), every tenth card is pulled
in the middle of its read, and every insertion must be accounted for: one
verdict, or "removed before the read finished".
"""
import os
import re
import shutil
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest.tap import Tap  # noqa: E402
from vtest.cardrig import Rig, Cycler, HarnessUnavailable  # noqa: E402
from vtest.daemon import vitaled_path  # noqa: E402

CYCLES = 200


def checker():
    """('asan' | 'valgrind' | None, wrapper argv, env)."""
    try:
        libs = subprocess.run(["ldd", vitaled_path()], capture_output=True, text=True).stdout
    except OSError:
        libs = ""
    if "libasan" in libs:
        return "asan", [], {"ASAN_OPTIONS": "detect_leaks=1:exitcode=23",
                            "LSAN_OPTIONS": "exitcode=23"}
    if shutil.which("valgrind"):
        return "valgrind", ["valgrind", "-q", "--leak-check=full",
                            "--errors-for-leak-kinds=definite,indirect",
                            "--show-leak-kinds=definite,indirect", "--error-exitcode=99",
                            "--num-callers=30"], {}
    return None, [], {}


def cycle(rig, reader, profile, n, errors):
    try:
        cyc = Cycler(rig, reader, profile=profile)
    except Exception as e:  # noqa: BLE001 - reported as a failure below
        errors.append("reader %d: %s" % (reader, e))
        return
    rid = re.escape(rig.ids[reader])
    try:
        for i in range(n):
            at = rig.mark()
            pulled = reader == 0 and i % 10 == 9
            cyc.cmd("in 3" if pulled else "in")     # pulled after 3 APDUs
            m = rig.wait(r"reader %s: card (\d+) inserted, reading" % rid, at, 120)
            card = int(m.group(1))
            if pulled:
                rig.wait(r"reader %s: card %d removed before the read finished" % (rid, card),
                         at, 120)
                cyc.cmd("out")
                continue
            rig.wait(r"reader %s: card %d: " % (rid, card), at, 120)
            cyc.cmd("out")
            rig.wait(r"reader %s: (card %d removed|idle)" % (rid, card), at, 120)
    except Exception as e:  # noqa: BLE001
        errors.append("reader %d, cycle %d: %s" % (reader, i, str(e)[:2000]))
    finally:
        cyc.close()


def main():
    t = Tap()
    kind, wrapper, env = checker()
    if kind is None:
        t.skip("200 insert/remove cycles without a leak",
               "no leak checker: build with --enable-sanitizers or install valgrind")
        t.done()
    t.diag("leak checker: %s" % kind)
    try:
        rig = Rig(wrapper=wrapper, env=env)
        rig.start()
    except HarnessUnavailable as e:
        t.skip("200 insert/remove cycles without a leak", str(e))
        t.done()
    with rig:
        errors = []
        threads = [threading.Thread(target=cycle, args=(rig, 0, "card", CYCLES // 2, errors)),
                   threading.Thread(target=cycle, args=(rig, 1, "phone", CYCLES // 2, errors))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        t.eq(errors, [], "%d insert/remove cycles on two readers" % CYCLES)
        log = rig.log()
        inserted = re.findall(r"card (\d+) inserted, reading", log)
        verdicts = re.findall(r"card (\d+): [\w-]+, (\w[\w-]*) ", log)
        pulled = re.findall(r"card (\d+) removed before the read finished", log)
        t.eq(len(inserted), CYCLES, "every insertion seen")
        t.eq((len(verdicts), len(pulled)), (CYCLES - CYCLES // 20, CYCLES // 20),
             "every insertion accounted for: a verdict, or pulled mid-read and nothing published")
        t.ok(all(s == "verified" for _, s in verdicts),
             "every completed read verified: %s" % sorted({s for _, s in verdicts}))
        status, report = rig.finish(timeout=120)
        t.eq(status, 0, "vitaled exits cleanly under %s" % kind)
        t.eq(report, [], "no leak or memory error reported by %s" % kind)
    t.done()


if __name__ == "__main__":
    main()
