"""Fake USB HID-POS scanners for umockdev testbeds: report descriptors,
input reports, ioctl scripts and sysfs descriptions (tests/qr-hidpos.py,
tests/qr-hidpos-reattach.py)."""

ENODEV = 19
EP_IN = 0x81

# Access-IS / Honeywell style: id 2, length, 3 AIM bytes, 56 data,
# further symbology, reserved, flags (bit 0: more follows).
DESC_AIM = bytes.fromhex(
    "058C 0902 A101 8502 0912 A102 150026FF00 7508 9501"
    " 0600FF 0901 8102"
    " 058C 09FB 09FC 09FD 9503 8102"
    " 09FE 9538 8102"
    " 0600FF 0902 9502 8102"
    " 058C 09FF 7501 9501 8102"
    " 7507 9501 8103"
    " C0 C0".replace(" ", ""))

# Vendor variant: no report id, flag bit first, 62 data bytes NUL-padded.
DESC_VENDOR = bytes.fromhex(
    "058C 0902 A101 0912 A102"
    " 058C 09FF 1500 2501 7501 9501 8102"
    " 7507 9501 8103"
    " 09FE 7508 953E 150026FF00 8102"
    " C0 C0".replace(" ", ""))

# A boot keyboard: HID, but not a bar code scanner.
DESC_KEYBOARD = bytes.fromhex(
    "0501 0906 A101 0507 19E0 29E7 1500 2501 7501 9508 8102"
    " 9506 7508 1500 2565 1900 2965 8100 C0".replace(" ", ""))


def aim_reports(data, aim=b"]Q1"):
    """data in reports of DESC_AIM's layout; aim: the 3 Symbology
    Identifier bytes each report carries."""
    out = []
    chunks = [data[i:i + 56] for i in range(0, len(data), 56)] or [b""]
    for i, c in enumerate(chunks):
        more = 1 if i < len(chunks) - 1 else 0
        out.append(bytes([2, len(c)]) + aim + c.ljust(56, b"\0") + b"\0\0" + bytes([more]))
    return out


def vendor_reports(data):
    out = []
    chunks = [data[i:i + 62] for i in range(0, len(data), 62)] or [b""]
    for i, c in enumerate(chunks):
        more = 1 if i < len(chunks) - 1 else 0
        out.append(bytes([more]) + c.ljust(62, b"\0"))
    return out


def script(reports, packet=64):
    lines = ["USBDEVFS_REAPURBNDELAY 0 1 %d 0 0 %d %d 0 %s"
             % (EP_IN, packet, len(r), r.hex().upper()) for r in reports]
    lines.append("USBDEVFS_REAPURBNDELAY 0 1 %d -%d 0 %d 0 0 " % (EP_IN, ENODEV, packet))
    return "\n".join(lines) + "\n"


def usb_device(port, devnum, vid, pid, report_desc, name):
    dev = bytes.fromhex("1201000200000040") + vid.to_bytes(2, "little") + \
        pid.to_bytes(2, "little") + bytes.fromhex("000101020301")
    rest = bytes.fromhex("090400000103000000") + \
        bytes([9, 0x21, 0x11, 0x01, 0, 1, 0x22]) + len(report_desc).to_bytes(2, "little") + \
        bytes([7, 5, EP_IN, 3, 64, 0, 10])
    cfg = bytes([9, 2]) + (9 + len(rest)).to_bytes(2, "little") + bytes([1, 1, 0, 0x80, 50]) + rest
    sysp = "/devices/pci0000:00/0000:00:14.0/usb1/1-%d" % port
    node = "bus/usb/001/%03d" % devnum
    text = ("P: %s\nN: %s\nE: DEVNAME=/dev/%s\nE: DEVTYPE=usb_device\nE: DRIVER=usb\n"
            "E: PRODUCT=%x/%x/100\nE: BUSNUM=001\nE: DEVNUM=%03d\nE: MAJOR=189\nE: MINOR=%d\n"
            "E: SUBSYSTEM=usb\nA: busnum=1\nA: devnum=%d\nA: speed=12\nA: idVendor=%04x\n"
            "A: idProduct=%04x\nA: bConfigurationValue=1\nA: bNumInterfaces= 1\n"
            "A: product=%s\nH: descriptors=%s\n\n"
            "P: %s/1-%d:1.0\nE: DEVTYPE=usb_interface\nE: SUBSYSTEM=usb\nE: INTERFACE=3/0/0\n"
            "A: bInterfaceNumber=00\nA: bInterfaceClass=03\n\n"
            "P: %s/1-%d:1.0/0003:%04X:%04X.%04X\nE: SUBSYSTEM=hid\nH: report_descriptor=%s\n\n"
            % (sysp, node, node, vid, pid, devnum, devnum - 1, devnum, vid, pid, name,
               (dev + cfg).hex().upper(), sysp, port, sysp, port, vid, pid, devnum,
               report_desc.hex().upper()))
    return sysp, "/dev/" + node, text


ROOT_HUB = ("P: /devices/pci0000:00/0000:00:14.0/usb1\nN: bus/usb/001/001\n"
            "E: DEVNAME=/dev/bus/usb/001/001\nE: DEVTYPE=usb_device\nE: SUBSYSTEM=usb\n"
            "E: BUSNUM=001\nE: DEVNUM=001\nA: busnum=1\nA: devnum=1\nA: speed=480\n"
            "H: descriptors=12010002090001406B1D020006050302010109021900010100E0000904"
            "000001090000000705810304000C\n\n")
