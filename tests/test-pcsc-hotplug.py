#!/usr/bin/python3
"""PC/SC source: a USB reader plugged and unplugged while pcscd and vitaled run.

The real pcscd hot-plugs USB readers only through libudev.  Here it runs on
a umockdev USB bus (tests/pcsc/usb-bed.py) with a drop directory holding a
bundle for a test IFD handler (tests/pcsc/ifd-hotplug.c) whose cards are the
emulators of tests/emu; see vtest.pcsc.  Checked: a reader plugged in while
everything runs appears on the bus and reads a card; unplugged while idle
its object goes and the vpcd readers keep working; unplugged in the middle
of a read nothing is published, the card object goes and the log says what
happened in plain words; replugged, it keeps its stable id and reads afresh;
the daemon ends cleanly (no sanitizer report).
"""
import importlib.util
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("top_srcdir", "."), "tests", "lib"))
from vtest.tap import Tap  # noqa: E402
from vtest.cardrig import Rig, HarnessUnavailable, family_strings  # noqa: E402
from vtest.paths import builddir, srcdir  # noqa: E402

DRIVER = os.path.join(builddir(), "tests", "pcsc", ".libs", "ifd-hotplug.so")
CONF = "[Chips]\nReadTimeout = 20000\n"


def fnv_id():
    """tests/test-pcsc.py's model of the plugin's stable id rule."""
    spec = importlib.util.spec_from_file_location(
        "test_pcsc", os.path.join(srcdir(), "tests", "test-pcsc.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.fnv_id


def cards_on_bus(rig, reader_id):
    """Card1 objects read on reader_id: {path: {property: value}}."""
    objs = rig.busctl("call", "org.vitaled", "/org/vitaled",
                      "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")[0]
    out = {}
    for path, ifaces in objs.items():
        card = ifaces.get("org.vitaled.Card1")
        if card:
            props = {k: v["data"] for k, v in card.items()}
            if props.get("ReaderId") == reader_id:
                out[path] = props
    return out


def verdict_of(rig, card, start):
    return [v for v in rig.verdicts(start) if v["card"] == card]


class Usb:
    """A hot-plugged reader (USB device number dev, serial VT<dev>): its
    index in rig.ids and rig.pcsc.readers once plugged."""

    def __init__(self, rig, dev=2):
        self.rig = rig
        self.dev = dev
        self.index = None
        self.name = None

    def plug(self):
        """Plug it; its stable id as the daemon announced it."""
        at = self.rig.mark()
        self.index = self.rig.pcsc.usb_plug(self.dev)
        self.name = self.rig.pcsc.readers[self.index]
        rid = self.rig.reader_id(self.name, at)
        self.rig.ids += [None] * (self.index + 1 - len(self.rig.ids))
        self.rig.ids[self.index] = rid
        return rid

    def unplug(self):
        return self.rig.pcsc.usb_unplug(self.dev)

    @property
    def id(self):
        return self.rig.ids[self.index]


def test_plugged(t, rig, usb):
    rid = usb.plug()
    t.ok(True, "a USB reader plugged while pcscd and vitaled run is announced (%s)" % usb.name)
    t.eq(rid, fnv_id()(usb.name), "its id follows the stable-id rule (name without the index)")
    r = rig.readers_on_bus().get(rid, {})
    t.eq((r.get("Kind"), r.get("State")), ("contact", "idle"), "D-Bus: a new Reader1 object")
    at = rig.mark()
    card = rig.insert(usb.index, profile="card")
    v = rig.verdict(usb.index, at)
    t.eq((v["card"], v["status"]), (card, "verified"), "a card in it is read and verified")
    t.eq([c["Status"] for c in cards_on_bus(rig, rid).values()], ["verified"],
         "D-Bus: its Card1 object says verified")
    rig.remove(usb.index, card)


def test_unplugged_idle(t, rig, usb):
    rid = usb.id
    at = rig.mark()
    t.ok(usb.unplug(), "pcscd drops the unplugged reader")
    t.ok(rig.wait(r"reader %s: unplugged$" % re.escape(rid), at),
         "the daemon says it was unplugged")
    t.ok(rig.wait(r"reader %s: removed" % re.escape(rid), at), "and drops it")
    t.ok(rid not in rig.readers_on_bus(), "D-Bus: its Reader1 object is gone")
    t.eq(sorted(i for i in rig.readers_on_bus() if i in rig.ids[:2]), sorted(rig.ids[:2]),
         "D-Bus: the vpcd readers are still there")
    at = rig.mark()
    card = rig.insert(0, profile="card")
    t.eq(rig.verdict(0, at)["status"], "verified", "and still read cards")
    rig.remove(0, card)


def test_replugged(t, rig, usb):
    old = usb.id
    rid = usb.plug()
    t.eq(rid, old, "replugged, the reader keeps its stable id (%s)" % rid)
    t.ok(rid in rig.readers_on_bus(), "D-Bus: its Reader1 object is back")


def test_unplugged_mid_read(t, rig, usb):
    rid = re.escape(usb.id)
    pcscd_at = len(rig.pcsc.pcscd_log())
    at = rig.mark()
    # 0.5 s per APDU: the read lasts 6 s, time enough to unplug in its middle
    card = rig.insert(usb.index, profile="card", variant="slow", args=("--delay", "0.5"))
    # the read is under way: pcscd carried APDUs to the card (-a logs them)
    apdus = wait_apdus(rig, pcscd_at, 3)
    t.ok(apdus >= 3, "the read had started (%d APDUs through pcscd)" % apdus)
    t.eq([c["State"] for c in cards_on_bus(rig, usb.id).values()], ["reading"],
         "D-Bus: its Card1 object is reading")
    t.ok(usb.unplug(), "unplugged in the middle of the read")
    t.ok(rig.wait(r"reader %s: unplugged in the middle of a read; read abandoned" % rid, at),
         "the log says in plain words what happened to which reader")
    t.ok(rig.wait(r"reader %s: card %d removed before the read finished; nothing published"
                  % (rid, card), at), "nothing published for the card")
    t.ok(rig.wait(r"reader %s: removed" % rid, at), "the reader is dropped")
    time.sleep(1.0)
    t.eq(verdict_of(rig, card, at), [], "no verdict for it, even later")
    t.eq(cards_on_bus(rig, usb.id), {}, "D-Bus: its Card1 object is gone")
    t.ok(rig.daemon.proc.poll() is None, "the daemon is still running")


def wait_apdus(rig, start, n, timeout=30):
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count = rig.pcsc.pcscd_log()[start:].count("APDU: ")
        if count >= n:
            break
        time.sleep(0.02)
    return count


def test_reads_afresh(t, rig, usb):
    old = usb.id
    rid = usb.plug()
    t.eq(rid, old, "replugged after the mid-read unplug: same stable id")
    at = rig.mark()
    card = rig.insert(usb.index, profile="card")
    v = rig.verdict(usb.index, at)
    t.eq((v["card"], v["status"]), (card, "verified"), "the next insertion reads afresh")
    rig.remove(usb.index, card)


def test_same_model_twice(t, rig, usb):
    # a second reader of the same model: pcscd names it by its serial number
    other = Usb(rig, dev=3)
    rid = other.plug()
    t.ok(rid != usb.id, "the same model with another serial number is another reader (%s)" % rid)
    at = rig.mark()
    card = rig.insert(other.index, profile="card")
    t.eq(rig.verdict(other.index, at)["status"], "verified", "and reads on its own")
    rig.remove(other.index, card)
    t.ok(other.unplug() and rig.wait(r"reader %s: removed" % re.escape(rid), at),
         "unplugged, it goes")
    t.ok(usb.id in rig.readers_on_bus(), "the first one stays")


def test_no_personal_data(t, rig):
    leaked = [s for s in family_strings("reference") if s in rig.log()]
    t.eq(leaked, [], "no name, NIR or member number in the log")


def test_clean_exit(t, rig):
    status, report = rig.finish()
    t.eq(status, 0, "vitaled exits cleanly")
    t.eq(report, [], "no sanitizer report")


def main():
    t = Tap()
    try:
        with Rig(conf=CONF, usb_driver=DRIVER, pcsc_debug=True) as rig:
            usb = Usb(rig)
            for test in (test_plugged, test_unplugged_idle, test_replugged,
                         test_unplugged_mid_read, test_reads_afresh, test_same_model_twice):
                t.run(test, rig, usb)
            t.run(test_no_personal_data, rig)
            t.run(test_clean_exit, rig)
    except HarnessUnavailable as e:     # only start() raises it: t.run catches the rest
        t.skip("pcsc hot-plug", str(e))
    t.done()


if __name__ == "__main__":
    main()
