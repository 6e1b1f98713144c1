#!/usr/bin/python3
"""Webcam source: off unless enabled; a missing or unusable device gets a
clear log line and the daemon carries on; what is in view is read like a
scanner's token, and other codes in view are ignored.

No V4L2 device exists on CI machines (no kernel modules, so no
v4l2loopback or vivid; no video major in /proc/devices) and umockdev has no
V4L2 ioctl emulation; a handler of our own would not see the calls either:
libzbar's V4L2 ioctls go through libv4l2 (v4l2_ioctl), which makes them
as raw syscall(2)s (it imports no ioctl()), and umockdev's preload wraps
ioctl(), not syscall().  So the frames test puts tests/camera/zbar-frames.c
first in the library path as libzbar.so.0: the camera source's video calls
read PGM frames from a FIFO, and everything else (conversion, scanning, the
symbol cache) is the real libzbar's.  V4L2 capture itself is not tested
here; when a /dev/video* capture device is present, the last test opens it
for real.
"""
import errno
import glob
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest import daemon as vdaemon  # noqa: E402
from vtest import pki as vpki  # noqa: E402
from vtest.bus import SystemBus  # noqa: E402
from vtest import qr, share, soak  # noqa: E402
from vtest.tap import Tap  # noqa: E402

sys.path.insert(0, os.path.join(vdaemon.srcdir(), "tests", "tokens"))
import mktoken  # noqa: E402


def threads(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def maps_zbar(pid):
    """The libzbar file the daemon maps, or None.  It (and libv4l, libjpeg,
    X11 behind it) is loaded only for an enabled camera: about 0.8 MiB of
    resident pages otherwise."""
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            if "/libzbar.so" in line:
                return line.split(None, 5)[5].strip()
    return None


def without_zbar(t, node, lib):
    """A machine without libzbar (/dev/null mounted over it in a private
    mount namespace): the camera source does not start and says why; the
    daemon carries on."""
    if os.geteuid() != 0:
        t.skip("libzbar missing", "needs root for a private mount namespace")
        return
    bus = SystemBus()
    bus.start()
    hide = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind /dev/null "$0" && exec "$@"', lib]
    d = vdaemon.Daemon(qr.daemon_conf("camera", "Enabled = true\nDevice = %s" % node),
                       env=bus.env(), wrapper=hide)
    try:
        d.start()
        t.ok(d.wait_log(r"camera: cannot load libzbar\.so\.0 \(Debian package libzbar0\): .+")
             and d.wait_log(r"plugin camera: not started"),
             "libzbar missing: the camera is not started, with a line naming the library")
        t.ok(d.proc.poll() is None and "reader camera-" not in d.log(),
             "the daemon runs on without a camera reader")
    finally:
        t.eq(d.stop(), 0, "vitaled exits cleanly")
        bus.stop()


def readers(bus):
    """{object path: Reader1 properties}"""
    return {p: i["org.vitaled.Reader1"] for p, i in qr.objects(bus).items()
            if "org.vitaled.Reader1" in i}


def cards(bus):
    return [i["org.vitaled.Card1"] for i in qr.objects(bus).values() if "org.vitaled.Card1" in i]


def open_writer(fifo, timeout=30):
    """The camera's side of the FIFO, once the daemon has it open."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
            continue
        os.set_blocking(fd, True)
        return fd


def show(fd, pgm, frames=3):
    """A code held in front of the camera for a few frames (10 a second)."""
    for _ in range(frames):
        view = memoryview(pgm)
        while view:
            view = view[os.write(fd, view):]
        time.sleep(0.1)


def pgm_of(path, text):
    mktoken.write_pgm(text, path)
    with open(path, "rb") as f:
        return f.read()


OPEN_FAIL_MS = 1500  # a failed open returns this late (tests/camera/zbar-frames.c)


def frames(t, tmp, lib):
    """Frames in view: a patient's phone read once however long it is held,
    other QR codes counted without an object, a log of their content or a
    signal (a scanner's, on the same daemon, are signalled), and the camera
    going away leaves the read served."""
    shim = os.path.join(vdaemon.builddir(), "tests", "camera", ".libs", "zbar-frames.so")
    libdir = os.path.join(tmp, "lib")
    os.mkdir(libdir)
    os.symlink(shim, os.path.join(libdir, "libzbar.so.0"))
    # its own directory: only the test's steps there make the source look again
    camdir = os.path.join(tmp, "cam")
    os.mkdir(camdir)
    fifo = os.path.join(camdir, "frames0")
    scanner = os.path.join(tmp, "scanner0")
    crid, srid = "camera-" + fifo, "serial-" + scanner
    conf = ("[General]\nEnablePlugins = camera,serial\n\n[Trust]\nDirectory = %s\n\n"
            "[camera]\nEnabled = true\nDevice = %s\n\n[serial]\nDevices = %s\n"
            % (vpki.trust_dir(), fifo, scanner))
    bus = SystemBus()
    bus.start()
    d = bus.start_vitaled(conf, user="root",
                          env={"LD_LIBRARY_PATH": libdir, "VTEST_ZBAR_LIBRARY": lib,
                               "VTEST_ZBAR_OPEN_FAIL_MS": str(OPEN_FAIL_MS)})
    sc = None
    with qr.scenario(t, "camera frames", bus, d):
        with open("/proc/%d/maps" % d.proc.pid) as f:
            maps = f.read()
        t.ok("zbar-frames.so" in maps and lib in maps,
             "the camera source loaded the frame stand-in, and through it the real libzbar")
        sc = soak.Scanner(scanner)
        d.wait_log(r"reader %s: added \(qr-serial" % re.escape(srid))
        listener = share.OtherCodeListener(bus)
        patient = qr.token_image(os.path.join(tmp, "patient.pgm"), "valid", "pgm")
        with open(os.path.join(tmp, "patient.pgm"), "rb") as f:
            patient_pgm = f.read()
        others = ["https://example.org/notice?id=42",
                  "HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH",
                  share.GS.decode() + "0103400930000120172712311012345" + share.GS.decode()]
        other_pgms = [pgm_of(os.path.join(tmp, "other%d.pgm" % i), c)
                      for i, c in enumerate(others)]

        # At start the node is missing: the worker fails to open it and ends.
        d.wait_log(r"reader %s: camera stopped; waiting" % re.escape(crid))
        # Something else appears beside it: the source looks again, and the
        # camera appears while that worker, which missed it, still runs.
        pos = d.log_size()
        open(os.path.join(camdir, "other"), "w").close()
        d.wait_log(r"reader %s: idle" % re.escape(crid), 30, pos)
        time.sleep(OPEN_FAIL_MS / 3000)
        os.mkfifo(fifo)
        try:
            cam = open_writer(fifo)
        except OSError as e:
            raise RuntimeError("the camera appearing while a worker that missed it ran "
                               "was never opened: %s" % e) from None
        t.ok(True, "a camera appearing while a worker that missed it still runs is opened "
             "once that worker ends")
        pos = d.log_size()
        show(cam, patient_pgm, 5)
        verdict, _, pos = qr.wait_verdict(d, crid, pos)
        t.eq(verdict, "verified", "a patient's phone QR code in view is read and verified")
        card = qr.card_on_bus(bus, crid, "verified")
        t.ok(card and card.get("FormFactor") == "phone-qr",
             "a Card1 object for it, phone-qr", card)
        for pgm in other_pgms:
            show(cam, pgm)
        counted = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            counted = [r["OtherCodes"] for r in readers(bus).values() if r["Id"] == crid]
            if counted == [len(others)]:
                break
            time.sleep(0.2)
        t.eq(counted, [len(others)], "Reader1.OtherCodes counts the %d other codes in view, "
             "each once however many frames held it" % len(others))
        t.eq([c["ReaderId"] for c in cards(bus)], [crid],
             "the one phone read is the only Card1 object: a frame held 5 frames long and "
             "other codes made no other")
        log = d.log()
        t.eq(len(re.findall(r"reader %s: card \d+: phone-qr" % re.escape(crid), log)), 1,
             "one read logged for the patient's code")
        t.ok(not any(c.strip(share.GS.decode())[:20] in log for c in others),
             "the other codes' content is not in the log")
        t.ok(re.search(r"reader %s: a code of \d+ bytes that is not a Vitale token \(%d so far\)"
                       % (re.escape(crid), len(others)), log),
             "the log counts them, with sizes only")
        # A scanner's other code after them: the first OtherCode signal
        # the client gets must be that one.
        sc.scan("3400930000120")
        got = listener.signals(1)
        listener.stop()
        spath = [p for p, r in readers(bus).items() if r["Id"] == srid]
        t.eq([(s["code"], [s["path"]]) for s in got], [(b"3400930000120", spath)],
             "no OtherCode signal for the camera's codes; the scanner's next code is signalled")

        pos = d.log_size()
        os.close(cam)
        t.ok(d.wait_log(r"reader %s: camera stopped; waiting for it to come back"
                        % re.escape(crid), 30, pos),
             "the camera going away (the FIFO closed) stops its worker, and the source waits")
        t.eq([c["Status"] for c in cards(bus)], ["verified"],
             "the phone read stays served after the camera went away")
        t.ok(d.proc.poll() is None, "the daemon keeps running")
    if sc:
        sc.unplug()


def main():
    t = Tap()
    if not os.access(vdaemon.vitaled_path(), os.X_OK):
        t.bail("daemon/vitaled not built")
    tmp = tempfile.mkdtemp(prefix="vitaled-camera-")
    node = os.path.join(tmp, "video0")

    bus, d = qr.start_daemon("camera", "Device = %s" % node)
    try:
        t.ok(d.wait_log(r"camera: not enabled; nothing opened"),
             "by default the camera is off: nothing opened")
        t.ok("reader camera-" not in d.log(), "and no camera reader is published")
        t.ok(maps_zbar(d.proc.pid) is None, "and libzbar is not loaded")
    finally:
        t.eq(d.stop(), 0, "vitaled exits cleanly")
        bus.stop()

    lib = None
    bus, d = qr.start_daemon("camera", "Enabled = true\nDevice = %s" % node)
    try:
        rid = "camera-" + node
        t.ok(d.wait_log(r"reader %s: added \(camera" % rid),
             "enabled: the camera reader exists before its device does")
        lib = maps_zbar(d.proc.pid)
        t.ok(lib, "libzbar is loaded once the camera is enabled")
        n = threads(d.proc.pid)
        with open(node, "wb") as f:
            f.write(b"not a video device")
        t.ok(d.wait_log(r"camera: %s: cannot capture: " % node),
             "a device node that is not a V4L2 camera: a clear log line")
        t.ok(d.wait_log(r"reader %s: camera stopped; waiting for it to come back" % rid),
             "the worker ends and the source waits for the camera")
        # a joined thread leaves /proc a moment after pthread_join returns
        deadline = time.monotonic() + 10
        while threads(d.proc.pid) > n and time.monotonic() < deadline:
            time.sleep(0.05)
        t.ok(threads(d.proc.pid) <= n, "no worker thread is left behind (%d, %d before)"
             % (threads(d.proc.pid), n))
        t.ok(d.proc.poll() is None, "the daemon keeps running")
    finally:
        t.eq(d.stop(), 0, "vitaled exits cleanly")
        bus.stop()

    if lib:
        without_zbar(t, node, lib)
        frames(t, tmp, lib)
    else:
        t.skip("libzbar missing", "the daemon was not seen loading libzbar")
        t.skip("camera frames", "the daemon was not seen loading libzbar")

    cams = sorted(glob.glob("/dev/video*"))
    if not cams:
        t.skip("capture from a real camera", "no /dev/video* device on this machine")
    else:
        bus, d = qr.start_daemon("camera", "Enabled = true\nDevice = %s" % cams[0])
        try:
            m = d.wait_log(r"reader camera-%s: added" % cams[0])
            t.ok(m and "cannot capture" not in d.log(), "%s opens for capture" % cams[0])
        finally:
            d.stop()
            bus.stop()
    t.done()


if __name__ == "__main__":
    main()
