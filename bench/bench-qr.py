#!/usr/bin/python3
"""QR sources benchmark (issue 7), run from a build tree (bench/run "qr").

    bench-qr.py [ROUNDS] [SCANS]

1. Image decode + verify: token images (PNG, JPEG, PGM) made at run time;
   vitaled's path (lib/qrimage.c + the engine, bench/bench-qr-image) per
   image, against zbarimg decoding the same images in the same run, both
   as one zbarimg process over all images (per image, start-up shared) and
   one process per image (how a script would call it).  Goal: faster.
2. Serial scan latency: the daemon with the serial source on a pty; time
   from the last byte of a scanned line written to the verdict line the
   daemon prints; floor: verifying the same token texts in-process with a
   persistent replay cache (written and fsync'ed per accepted token, as
   the daemon does).
Prints `bench-result:` JSON lines for bench/run.
"""
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("top_builddir") or os.getcwd()
sys.path.insert(0, os.path.join(SRC, "tests", "lib"))
os.environ.setdefault("top_srcdir", SRC)
os.environ.setdefault("top_builddir", BUILD)
from vtest import daemon as vdaemon  # noqa: E402
from vtest import pki, qr  # noqa: E402
from vtest.bench import ratio_result  # noqa: E402

TOOL = os.path.join(BUILD, "bench", "bench-qr-image")


def wall(argv, repeat=1):
    t0 = time.perf_counter()
    for _ in range(repeat):
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - t0) / repeat


def bench_images(tmp, rounds):
    imgs = {"png": [], "jpeg": [], "pgm": []}
    for i in range(3):
        png = os.path.join(tmp, "t%d.png" % i)
        qr.token_image(png, "valid")
        imgs["png"].append(png)
        pgm = os.path.join(tmp, "t%d.pgm" % i)
        qr.token_image(pgm, "valid", "pgm")
        imgs["pgm"].append(pgm)
        if shutil.which("convert"):
            jpg = os.path.join(tmp, "t%d.jpg" % i)
            subprocess.run(["convert", png, "-quality", "90", jpg], check=True)
            imgs["jpeg"].append(jpg)
    zbarimg = qr.ZBARIMG_QR
    for fmt, paths in imgs.items():
        if not paths:
            continue
        r = subprocess.run([TOOL, pki.trust_dir(), str(rounds)] + paths, capture_output=True,
                           text=True, check=True)
        ours = []
        for line in r.stdout.splitlines():
            f = line.split()
            if f[0] != "image" or f[3] != "verified":
                sys.exit("bench-qr: %s" % line)
            ours.append(float(f[2]))
        ours_us = statistics.mean(ours)
        batch_us = wall(zbarimg + paths * rounds) / (len(paths) * rounds) * 1e6
        single_us = statistics.mean(wall(zbarimg + [p], rounds) for p in paths) * 1e6
        print("%s: vitaled decode+verify %.0f us/image; zbarimg %.0f us/image in one "
              "process, %.0f us as one process per image" % (fmt, ours_us, batch_us, single_us))
        ratio_result("%s image decode+verify vs zbarimg decode (one process, all images)" % fmt,
               ours_us, batch_us, "us", "< 1", lambda x: x < 1)
        ratio_result("%s image decode+verify vs zbarimg decode (process per image)" % fmt,
               ours_us, single_us, "us", "< 1", lambda x: x < 1)


def bench_serial(tmp, scans):
    texts = [qr.token("valid")[0][0] for _ in range(scans)]
    with open(os.path.join(tmp, "texts"), "w") as f:
        f.write("\n".join(texts) + "\n")
    r = subprocess.run([TOOL, pki.trust_dir(), "1", "--text", os.path.join(tmp, "texts"),
                        os.path.join(tmp, "floor-replay.cache")],
                       capture_output=True, text=True, check=True)
    floor = statistics.median(float(line.split()[1]) for line in r.stdout.splitlines())

    conf = os.path.join(tmp, "vitaled.conf")
    link = os.path.join(tmp, "scanner0")
    with open(conf, "w") as f:
        f.write("[General]\nStateDirectory = %s\n" % tmp +
                qr.daemon_conf("serial", "Devices = %s" % link).replace("[General]\n", "", 1))
    bus = vdaemon.SessionBus()
    master, slave = os.openpty()
    os.symlink(os.ttyname(slave), link)
    os.close(slave)
    proc = subprocess.Popen([vdaemon.vitaled_path(), "--config", conf, "--session", "-v"],
                            env=dict(os.environ, **bus.env()), stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    buf = b""

    def wait_for(needle, timeout=30):
        nonlocal buf
        deadline = time.perf_counter() + timeout
        while needle not in buf:
            left = deadline - time.perf_counter()
            if left <= 0 or not select.select([proc.stderr], [], [], left)[0]:
                raise TimeoutError("%s not in %s" % (needle, buf[-2000:]))
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                raise EOFError(needle)
            buf += chunk
        at = time.perf_counter()
        buf = buf[buf.index(needle) + len(needle):]
        return at

    lat = []
    try:
        wait_for(b"added (qr-serial")
        for text in texts:
            time.sleep(0.3)  # a person's pace: the source throttles faster floods
            os.write(master, text.encode() + b"\r\n")
            t0 = time.perf_counter()
            wait_for(b"phone-qr, verified")
            lat.append((time.perf_counter() - t0) * 1e6)
    finally:
        proc.terminate()
        proc.wait(20)
        os.close(master)
        bus.close()
    med = statistics.median(lat)
    print("serial: last byte to verdict median %.0f us over %d scans; in-process verify "
          "with the replay cache %.0f us" % (med, len(lat), floor))
    ratio_result("serial scan: last byte to verdict vs in-process verify + replay cache", med,
           floor, "us",
           "", lambda x: None)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    scans = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    if not os.access(TOOL, os.X_OK):
        sys.exit("bench-qr: %s not built" % TOOL)
    with tempfile.TemporaryDirectory(prefix="bench-qr-") as tmp:
        bench_images(tmp, rounds)
        bench_serial(tmp, scans)


if __name__ == "__main__":
    main()
