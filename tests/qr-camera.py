#!/usr/bin/python3
"""Webcam source: off unless enabled; a missing or unusable device gets a
clear log line and the daemon carries on.

No V4L2 device exists on CI machines (no kernel modules, so no
v4l2loopback or vivid; no video major in /proc/devices) and umockdev has no
V4L2 ioctl emulation; a handler of our own would not see the calls either:
libzbar's V4L2 ioctls go through libv4l2 (v4l2_ioctl), which makes them
as raw syscall(2)s (it imports no ioctl()), and umockdev's preload wraps
ioctl(), not syscall().  So frames are not tested here, nor, for want of a
frame, that a code in view that is not a token is counted without an
object or a signal (daemon/token.c other_code: its camera branch).  The
libzbar decoding the camera worker uses is the one tests/qr-images.py
checks on real images.  When a /dev/video* capture
device is present, the last test opens it for real.
"""
import glob
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest import daemon as vdaemon  # noqa: E402
from vtest import qr  # noqa: E402
from vtest.tap import Tap  # noqa: E402


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
    from vtest.bus import SystemBus
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
    else:
        t.skip("libzbar missing", "the daemon was not seen loading libzbar")

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
