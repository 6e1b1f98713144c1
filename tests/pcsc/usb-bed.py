#!/usr/bin/python3
"""Fake USB smart-card readers for a private pcscd (umockdev testbed).

Run under `umockdev-wrapper /usr/bin/python3` (uevents are sent from this
process, which needs its /sys redirected).  Prints `root DIR` (give pcscd
LD_PRELOAD=libumockdev-preload.so.0 and UMOCKDEV_DIR=DIR) and then reads
commands on stdin, one a line, answering `ok` or `error: ...`:

    plug N      a reader at USB port 1-N, device number N, serial VT<N>
    unplug N    its interface and device leave (remove uevents)

pcscd (hotplug_libudev.c) enumerates the "usb" subsystem at start and
then listens for uevents of usb_interface devices: on "add" it looks up
the parent usb_device's idVendor/idProduct in its bundles and its device
node, on "remove" it drops the reader whose interface has that sysname
(the parent must still be there).  umockdev cannot add a device again
after remove_device(), so an unplugged device stays in the fake /sys and
a replug is a new pair of "add" uevents: as on real hardware, pcscd sees
the same sysname, device node and serial number again.

The vendor/product ids are from pid.codes' test range; the bundle that
pcscd matches against them is written by vtest.pcsc.
"""
import sys

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402

VID, PID = 0x1209, 0x0001
HUB = "/devices/pci0000:00/0000:00:14.0/usb1"


def hub():
    return ("P: %s\nN: bus/usb/001/001\nE: DEVNAME=/dev/bus/usb/001/001\n"
            "E: DEVTYPE=usb_device\nE: SUBSYSTEM=usb\nE: BUSNUM=001\nE: DEVNUM=001\n"
            "A: busnum=1\nA: devnum=1\nA: idVendor=1d6b\nA: idProduct=0002\n\n" % HUB)


def reader(n):
    dev = "%s/1-%d" % (HUB, n)
    text = ("P: %s\nN: bus/usb/001/%03d\nE: DEVNAME=/dev/bus/usb/001/%03d\n"
            "E: DEVTYPE=usb_device\nE: SUBSYSTEM=usb\nE: BUSNUM=001\nE: DEVNUM=%03d\n"
            "E: PRODUCT=%x/%x/100\nA: busnum=1\nA: devnum=%d\nA: idVendor=%04x\n"
            "A: idProduct=%04x\nA: serial=VT%d\nA: bNumInterfaces= 1\n\n"
            "P: %s/1-%d:1.0\nE: DEVTYPE=usb_interface\nE: SUBSYSTEM=usb\n"
            "E: INTERFACE=11/0/0\nA: bInterfaceNumber=00\nA: bInterfaceClass=0b\n\n"
            % (dev, n, n, n, VID, PID, n, VID, PID, n, dev, n))
    return "/sys" + dev, "/sys%s/1-%d:1.0" % (dev, n), text


def main():
    bed = UMockdev.Testbed.new()
    if not bed.add_from_string(hub()):
        raise SystemExit("umockdev refused the root hub")
    print("root %s" % bed.get_root_dir(), flush=True)
    known = set()
    for line in sys.stdin:
        words = line.split()
        try:
            cmd, n = words[0], int(words[1])
            if not 2 <= n <= 127:
                raise ValueError("device number out of range")
        except (IndexError, ValueError) as e:
            print("error: %s" % e, flush=True)
            continue
        dev, intf, text = reader(n)
        if cmd == "plug" and n not in known:
            # announces the device, then its interface once it exists
            if not bed.add_from_string(text):
                print("error: umockdev refused the device", flush=True)
                continue
            known.add(n)
        elif cmd == "plug":
            bed.uevent(dev, "add")
            bed.uevent(intf, "add")
        elif cmd == "unplug" and n in known:
            bed.uevent(intf, "remove")
            bed.uevent(dev, "remove")
        else:
            print("error: cannot %s %d" % (cmd, n), flush=True)
            continue
        print("ok", flush=True)


if __name__ == "__main__":
    main()
