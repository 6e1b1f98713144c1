#!/usr/bin/python3
"""USB HID-POS QR scanners end to end, on umockdev USB devices.

A umockdev testbed (GI) holds fake USB devices: sysfs descriptors, the HID
report descriptor, and an ioctl script whose interrupt reports libusb
reaps.  Checked: enumeration at start; a scanner laid out like Access-IS /
Honeywell (report id, length byte, AIM symbology, 56 data bytes, "more
follows" bit) sending codes split over several reports; a vendor variant
with another layout (no report id, no length, flag byte first) plugged in
after start (libusb hotplug), then a second one in another socket; a HID keyboard
that is left alone; a disconnect in the middle of a multi-report code; codes
that are not tokens, whose Reader1.OtherCode carries the AIM identifier of
the report's Symbology Identifier bytes (the code's own when it starts with
one).

umockdev's ioctl scripts cannot leave a transfer pending (they answer
every reap and wrap around), so each script ends with a "no device"
completion: the scanner goes away at the end of its script.  Nor can the
same device be added again after remove_device() (umockdev asserts on the
leftover /sys/bus symlink) or get a second script for its node, so replug
of one USB scanner is covered by the serial test, not here.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest import daemon as vdaemon  # noqa: E402
from vtest import qr, share  # noqa: E402
from vtest.hidpos import (DESC_AIM, DESC_KEYBOARD, DESC_VENDOR, ROOT_HUB,  # noqa: E402
                          aim_reports, script, usb_device, vendor_reports)
from vtest.tap import Tap  # noqa: E402


def plug(bed, tmp, port, devnum, vid, pid, desc, reports, name, hotplug=False):
    sysp, node, text = usb_device(port, devnum, vid, pid, desc, name)
    path = os.path.join(tmp, "%04x-%d.ioctl" % (pid, port))
    with open(path, "w") as f:
        f.write(script(reports))
    # the ioctl socket first: the daemon may open the node on the add uevent
    bed.tb.load_ioctl(node, path)
    bed.add(text)
    if hotplug:
        # add_from_string announces the device before its interface and
        # HID children exist; announce it again once the tree is whole
        bed.tb.uevent("/sys" + sysp, "remove")
        bed.tb.uevent("/sys" + sysp, "add")
    return "/sys" + sysp, node


def plug_vendor(d, bed, tmp, rid, port, devnum):
    """A vendor-layout scanner hotplugged at port, holding one valid code:
    (its reader added, the code's verdict, log offset after it, sysfs path)."""
    pos = d.log_size()
    text, _ = qr.token("valid")
    sysp, _ = plug(bed, tmp, port, devnum, 0x05E0, 0x1200, DESC_VENDOR,
                   vendor_reports(text[0].encode()), "Scanner Vendor", hotplug=True)
    m = d.wait_log(r"reader %s: added \(qr-hid" % rid, 30, pos)
    v, _, pos = qr.wait_verdict(d, rid, pos)
    return m, v, pos, sysp


def main():
    qr.under_umockdev_wrapper()
    t = Tap()
    if not os.access(vdaemon.vitaled_path(), os.X_OK):
        t.bail("daemon/vitaled not built")
    tmp = tempfile.mkdtemp(prefix="vitaled-hidpos-")
    bed = qr.Testbed()
    bed.add(ROOT_HUB)

    valid, _ = qr.token("valid")
    expired, _ = qr.token("expired")
    cut, _ = qr.token("valid")
    n_reports = len(aim_reports(valid[0].encode()))
    reports = aim_reports(valid[0].encode()) + aim_reports(expired[0].encode())
    # a code cut off by the unplug: its first reports only ("more" still set)
    reports += aim_reports(cut[0].encode())[:2]
    rid_a = "hidpos-0c2e:0b61-1-1"
    plug(bed, tmp, 1, 7, 0x0C2E, 0x0B61, DESC_AIM, reports, "Scanner AIM")
    plug(bed, tmp, 3, 9, 0x046D, 0xC31C, DESC_KEYBOARD, [bytes(8)], "Keyboard")

    bus, d = qr.start_daemon("hidpos", "", env=bed.env())
    with qr.scenario(t, "HID-POS", bus, d):
        m = d.wait_log(r"reader %s: added \(qr-hid" % rid_a)
        t.ok(m, "a HID-POS scanner present at start is enumerated and claimed")
        v1, _, pos = qr.wait_verdict(d, rid_a, 0)
        t.eq(v1, "verified", "a token in %d reports joined by the 'more follows' bit is verified"
             % n_reports)
        t.ok(qr.card_on_bus(bus, rid_a, "verified"),
             "a client on the private system bus sees the verified Card1")
        v2, _, pos = qr.wait_verdict(d, rid_a, pos)
        t.eq(v2, "expired", "the next code on the same scanner: expired")
        m = d.wait_log(r"reader %s: scanner unplugged in the middle of a code; partial code "
                       r"dropped" % rid_a, 30, pos)
        t.ok(m, "a disconnect in the middle of a multi-report code drops it with a log line")
        d.wait_log(r"reader %s: removed" % rid_a, 30, pos)
        t.ok(d.wait_log(r"hidpos: 046d:c31c is not a HID-POS scanner"),
             "a HID keyboard is read by its report descriptor and left alone")
        t.ok("reader hidpos-046d:c31c" not in d.log(), "no reader for the keyboard")

        # hotplug: a vendor variant arrives after start
        rid_b = "hidpos-05e0:1200-1-2"
        m, v, pos, sysp = plug_vendor(d, bed, tmp, rid_b, 2, 8)
        t.ok(m, "a scanner plugged in after start is found by libusb hotplug")
        t.eq(v, "verified", "the vendor layout (no report id, no length byte) is read "
             "from its report descriptor")
        d.wait_log(r"reader %s: removed" % rid_b, 30, pos)
        bed.tb.uevent(sysp, "remove")  # libusb: device left (already released)

        # a second scanner of the same kind in another socket: its own reader
        rid_c = "hidpos-05e0:1200-1-4"
        m, v, pos, _ = plug_vendor(d, bed, tmp, rid_c, 4, 10)
        t.ok(m, "the same model in another socket is another reader (id from the port path)")
        t.eq(v, "verified", "and reads a valid code")

        # other codes: the symbology comes from the report when the code has none
        GS = b"\x1d"
        others = [
            (b"3400930000120", b"]E0", "]E0"),                           # EAN-13
            (GS + b"010340093000012017271231" + b"10LOT1" + GS + b"21SN9", b"]d2", "]d2"),
            (b"3400930000137", b"E0\0", "]E0"),               # sent without its "]"
            (b"]E03400930000151", b"]Q1", "]E0"),            # the code's own first
            (b"https://example.org/notice", bytes(3), ""),  # none sent
            (b"3400930000144", b"]\x01!", ""),                # not an AIM identifier
        ]
        listener = share.OtherCodeListener(bus)
        reports = []
        for code, aim, _ in others:
            reports += aim_reports(code, aim)
        pos = d.log_size()
        tok, _ = qr.token("valid")
        reports += aim_reports(tok[0].encode())
        rid_d = "hidpos-0c2e:0b87-1-5"
        plug(bed, tmp, 5, 11, 0x0C2E, 0x0B87, DESC_AIM, reports, "Scanner AIM 2", hotplug=True)
        v, _, pos = qr.wait_verdict(d, rid_d, pos)
        t.eq(v, "verified", "a token after them is read (its ]Q1 is no other code)")
        signals = listener.signals(len(others))
        listener.stop()
        t.eq([s["code"] for s in signals], [c for c, _, _ in others],
             "one Reader1.OtherCode per other code, bytes as scanned (no symbology added)")
        t.eq([s["symbology"] for s in signals], [want for _, _, want in others],
             "symbology: the report's AIM identifier, the code's own first, none when "
             "absent or malformed")
        t.ok(d.proc.poll() is None, "the daemon is still running")
    t.done()


if __name__ == "__main__":
    qr.run_exiting(main)
