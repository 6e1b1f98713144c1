#!/usr/bin/python3
"""HID-POS: the kernel driver is given back when the daemon lets a scanner
go (issue 15): at exit (also what disabling the plugin takes: a restart);
at unplug there is no device left to give it to (the kernel binds usbhid
again when the scanner is plugged back in).

A umockdev USB scanner whose usbdevfs node is served by a handler here:
it keeps "usbhid bound to interface 0" and answers USBDEVFS_GETDRIVER and
USBDEVFS_IOCTL (DISCONNECT, CONNECT) as the kernel does, so libusb's
detach and attach in the real daemon are seen as they happen.  Other
ioctls get umockdev's own answers, except the daemon's one interrupt
transfer: it stays pending (no code is read here: tests/qr-hidpos.py
reads them) until the daemon cancels it, and then comes back cancelled,
as from the kernel.
"""
import errno
import os
import struct
import sys
import threading

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest import daemon as vdaemon  # noqa: E402
from vtest import qr  # noqa: E402
from vtest.hidpos import DESC_AIM, ROOT_HUB, usb_device  # noqa: E402
from vtest.tap import Tap  # noqa: E402


def _ioc(d, nr, size):
    return (d << 30) | (size << 16) | (ord("U") << 8) | nr


USBDEVFS_GETDRIVER = _ioc(1, 8, 4 + 256)     # struct usbdevfs_getdriver
USBDEVFS_IOCTL = _ioc(3, 18, 16)             # struct usbdevfs_ioctl {ifno, code, data}
USBDEVFS_DISCONNECT = _ioc(0, 22, 0)
USBDEVFS_CONNECT = _ioc(0, 23, 0)
URB_SIZE = 56                                # struct usbdevfs_urb, no iso frames
USBDEVFS_SUBMITURB = _ioc(2, 10, URB_SIZE)
USBDEVFS_DISCARDURB = _ioc(0, 11, 0)
USBDEVFS_REAPURB = _ioc(1, 12, 8)
USBDEVFS_REAPURBNDELAY = _ioc(1, 13, 8)
ENOENT = 2


def usbfs_handler():
    """A UMockdev.IoctlBase subclass instance with a driver-binding state."""
    from gi.repository import UMockdev

    class Usbfs(UMockdev.IoctlBase):
        def __init__(self):
            super().__init__()
            self.lock = threading.Condition()
            self.driver = {0: "usbhid"}
            self.log = []
            self.urb = None

        def events(self):
            with self.lock:
                return list(self.log)

        def wait_events(self, n, timeout=30):
            with self.lock:
                self.lock.wait_for(lambda: len(self.log) >= n, timeout)
                return list(self.log)

        def do_handle_ioctl(self, client):
            req, arg = client.get_request(), client.get_arg()
            if req == USBDEVFS_GETDRIVER:
                buf = arg.resolve(0, 260)
                ifno = struct.unpack_from("=I", buf.retrieve())[0]
                with self.lock:
                    name = self.driver.get(ifno)
                if not name:
                    client.complete(-1, errno.ENODATA)
                    return True
                buf.update(4, name.encode() + b"\0")
                client.complete(0, 0)
                return True
            if req in (USBDEVFS_SUBMITURB, USBDEVFS_DISCARDURB, USBDEVFS_REAPURB,
                       USBDEVFS_REAPURBNDELAY):
                return self.urb_ioctl(client, req, arg)
            if req != USBDEVFS_IOCTL:
                return False      # claim, release: umockdev's answers
            ifno, code, _ = struct.unpack("=iiQ", arg.resolve(0, 16).retrieve())
            with self.lock:
                bound = self.driver.get(ifno)
                if code == USBDEVFS_DISCONNECT and bound:
                    self.driver[ifno] = None
                    self.log.append("detach")
                    result = (0, 0)
                elif code == USBDEVFS_CONNECT and not bound:
                    self.driver[ifno] = "usbhid"
                    self.log.append("attach")
                    result = (1, 0)   # the kernel's device_attach(): 1 = a driver bound
                else:
                    result = (-1, errno.ENODATA if code == USBDEVFS_DISCONNECT else errno.EBUSY)
                self.lock.notify_all()
            client.complete(*result)
            return True

        def urb_ioctl(self, client, req, arg):
            if req == USBDEVFS_SUBMITURB:
                self.urb = arg.resolve(0, URB_SIZE)
                self.cancelled = False
                client.complete(0, 0)
            elif req == USBDEVFS_DISCARDURB:
                self.cancelled = True
                client.complete(0, 0)
            elif getattr(self, "cancelled", False) and self.urb is not None:
                self.urb.update(4, struct.pack("=i", -ENOENT))   # status
                self.urb.update(28, struct.pack("=i", 0))        # actual_length
                arg.resolve(0, 8).set_ptr(0, self.urb)
                self.urb = None
                client.complete(0, 0)
            else:
                client.complete(-1, errno.EAGAIN)
            return True

    return Usbfs()


def main():
    qr.under_umockdev_wrapper()
    t = Tap()
    if not os.access(vdaemon.vitaled_path(), os.X_OK):
        t.bail("daemon/vitaled not built")
    bed = qr.Testbed()
    bed.add(ROOT_HUB)
    rid = "hidpos-0c2e:0b61-1-1"
    sysp, node, text = usb_device(1, 7, 0x0C2E, 0x0B61, DESC_AIM, "Scanner AIM")
    usbfs = usbfs_handler()
    bed.tb.attach_ioctl(node, usbfs)
    bed.add(text)

    # exit
    bus, d = qr.start_daemon("hidpos", "", env=bed.env())
    with qr.scenario(t, "HID-POS exit", bus, d):
        t.ok(d.wait_log(r"reader %s: added \(qr-hid" % rid), "the scanner is claimed")
        t.eq(usbfs.events(), ["detach"], "usbhid was detached from it to claim it")
        t.eq(d.stop(), 0, "the daemon stops")
        t.eq(usbfs.wait_events(2), ["detach", "attach"], "at exit, usbhid is attached again")
        t.ok(usbfs.driver[0] == "usbhid", "the scanner is a keyboard again")
        t.ok("hidpos: 0c2e:0b61: kernel driver attached again" in d.log(),
             "the log says so")

    # unplug
    bus, d = qr.start_daemon("hidpos", "", env=bed.env())
    with qr.scenario(t, "HID-POS unplug", bus, d):
        t.ok(d.wait_log(r"reader %s: added \(qr-hid" % rid), "claimed again by a new daemon")
        t.eq(usbfs.wait_events(3), ["detach", "attach", "detach"], "detached again")
        pos = d.log_size()
        bed.tb.uevent("/sys" + sysp, "remove")
        t.ok(d.wait_log(r"reader %s: removed" % rid, 30, pos), "unplugged: its reader goes")
        # a device that left has no interface to bind: libusb says so, and
        # the kernel binds usbhid itself when it is plugged in again
        t.ok(d.wait_log(r"hidpos: 0c2e:0b61: gone; nothing to attach again", 30, pos),
             "the daemon lets it go, and libusb has no device to attach a driver to")
        t.eq(usbfs.events(), ["detach", "attach", "detach"], "so no attach reached the node")
    t.done()


if __name__ == "__main__":
    qr.run_exiting(main)
