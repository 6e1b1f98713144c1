#!/usr/bin/python3
"""A minimal practice-software client for vitaled (python3-dbus + GLib).

It waits for cards; when one is read it prints the verdict and, when the
read is verified, the beneficiaries with their rights on a date.  Run it
as root or as a member of the vitaled-clients group (others are refused).

    vitaled-client.py [--date YYYY-MM-DD] [--json] [--once] [--until-removed]
                      [--session]

--json prints one JSON object per line ("ready", "card", "verdict",
"beneficiaries", "removed" events).  --once exits after the first card read
is handled; --until-removed waits until that card is also gone.
Debian packages: python3-dbus python3-gi.
"""
import argparse
import json
import sys

import dbus
import dbus.mainloop.glib
from gi.repository import GLib

BUS_NAME = "org.vitaled"
ROOT = "/org/vitaled"
CARD = "org.vitaled.Card1"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
PROPERTIES = "org.freedesktop.DBus.Properties"


def plain(v):
    """D-Bus values as plain Python (for printing and JSON)."""
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dbus.Boolean):
        return bool(v)
    if isinstance(v, (dbus.Byte, dbus.UInt32, dbus.UInt64, dbus.Int32, dbus.Int64)):
        return int(v)
    if isinstance(v, (dbus.String, dbus.ObjectPath)):
        return str(v)
    return v


class Client:
    def __init__(self, bus, args):
        self.bus = bus
        self.args = args
        self.cards = {}         # path -> last known properties
        self.handled = set()
        self.first = None
        self.loop = GLib.MainLoop()
        # Subscribe first, then look: no card can slip in between.
        bus.add_signal_receiver(self.added, "InterfacesAdded", OBJECT_MANAGER, BUS_NAME, ROOT)
        bus.add_signal_receiver(self.removed, "InterfacesRemoved", OBJECT_MANAGER, BUS_NAME, ROOT)
        bus.add_signal_receiver(self.changed, "PropertiesChanged", PROPERTIES, BUS_NAME,
                                path_keyword="path")
        manager = dbus.Interface(bus.get_object(BUS_NAME, ROOT), OBJECT_MANAGER)
        self.emit("ready", text="waiting for cards")
        for path, interfaces in manager.GetManagedObjects().items():
            if CARD in interfaces:
                self.update(str(path), interfaces[CARD])

    def emit(self, event, text=None, **fields):
        if self.args.json:
            print(json.dumps(dict(event=event, **fields), ensure_ascii=False), flush=True)
        elif text:
            print(text, flush=True)

    def added(self, path, interfaces):
        if CARD in interfaces:
            self.emit("card", "%s: card on reader %s" % (path, interfaces[CARD]["ReaderId"]),
                      path=str(path))
            self.update(str(path), interfaces[CARD])

    def changed(self, interface, changed, invalidated, path=None):
        if interface == CARD and path in self.cards:
            self.update(path, changed)

    def removed(self, path, interfaces):
        path = str(path)
        if CARD in interfaces and path in self.cards:
            del self.cards[path]
            self.emit("removed", "%s: gone, its data wiped" % path, path=path)
            if self.args.until_removed and path == self.first:
                self.loop.quit()

    def update(self, path, props):
        card = self.cards.setdefault(path, {})
        card.update(plain(props))
        if card.get("State") != "done" or path in self.handled:
            return
        self.handled.add(path)
        self.emit("verdict", "%s: %s (%s)" % (path, card["Status"], card["StatusReason"]),
                  path=path, status=card["Status"], reason=card["StatusReason"],
                  form=card["FormFactor"], marker=card["Marker"], has_data=card["HasData"],
                  count=card["BeneficiaryCount"])
        if card["HasData"]:
            self.show(path)
        if self.first is None:
            self.first = path
            if self.args.once and not self.args.until_removed:
                self.loop.quit()

    def show(self, path):
        card = dbus.Interface(self.bus.get_object(BUS_NAME, path), CARD)
        try:
            people = plain(card.GetBeneficiaries(self.args.date))
        except dbus.exceptions.DBusException as e:
            self.emit("error", "%s: %s" % (path, e.get_dbus_message()), path=path,
                      name=e.get_dbus_name(), message=e.get_dbus_message())
            return
        self.emit("beneficiaries", None, path=path, date=self.args.date, beneficiaries=people)
        if self.args.json:
            return
        for b in people:
            rights = "AMO open until %s" % (b["AmoUntil"] or "further notice") \
                if b["AmoOpen"] else "AMO closed"
            print("  %s %s, born %s, qualité %s, NIR %s: %s%s%s" % (
                b["UsualName"], b["FirstName"], b["BirthDate"], b["Qualite"],
                b["Nir"] or "-", rights, ", C2S" if b["C2S"] else "",
                "" if b["Verified"] else " [UNVERIFIED legacy card]"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--date", default="", help="rights on this date (YYYY-MM-DD; default today)")
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    ap.add_argument("--once", action="store_true", help="exit after the first card")
    ap.add_argument("--until-removed", action="store_true",
                    help="with --once: exit when that card is gone")
    ap.add_argument("--session", action="store_true", help="session bus (development)")
    args = ap.parse_args()
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus() if args.session else dbus.SystemBus()
    try:
        client = Client(bus, args)
    except dbus.exceptions.DBusException as e:
        print("vitaled-client: %s: %s" % (e.get_dbus_name(), e.get_dbus_message()),
              file=sys.stderr)
        return 1
    client.loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
