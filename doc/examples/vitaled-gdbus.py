#!/usr/bin/python3
"""Follow vitaled's cards with GLib's GDBus (python3-gi), race-free.

    vitaled-gdbus.py [YYYY-MM-DD]

GDBusObjectManagerClient is the whole robust pattern of doc/dbus-api.md:
one match for /org/vitaled before GetManagedObjects, the properties cached
and kept up to date, and a resynchronisation when vitaled restarts (it
follows the name's owner).  Each event is one JSON line on stdout:

  sync     readers and cards after (re)synchronising
  done     a card's read is over: status, has_data, count
  data     its card serial and the beneficiaries' first names (has_data)
  error    a call refused: method, the D-Bus error name, GLib's domain/code
  removed  a card is gone (pulled, released, timed out)
  vanished vitaled went away
  stale    after a restart, what a card path from before answers now: it
           must be an error (UnknownObject), never another read's data

Personal data (first names) is printed: run it as root or as a member of
the vitaled-clients group, and only on test cards.
"""
import json
import sys

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

NAME = "org.vitaled"
CARD1 = "org.vitaled.Card1"
READER1 = "org.vitaled.Reader1"
date = sys.argv[1] if len(sys.argv) > 1 else ""
handled = set()     # cards whose "done" was acted on
known = set()       # card paths of the vitaled running now


def emit(**event):
    print(json.dumps(event), flush=True)


def error_event(path, method, e):
    emit(event="error", path=path, method=method,
         name=Gio.DBusError.get_remote_error(e), domain=e.domain,
         code=e.code)


def cached(proxy, name):
    v = proxy.get_cached_property(name)
    return v.unpack() if v is not None else None


def card_changed(proxy):
    path = proxy.get_object_path()
    known.add(path)
    if cached(proxy, "State") != "done" or path in handled:
        return
    handled.add(path)
    has_data = cached(proxy, "HasData")
    emit(event="done", path=path, status=cached(proxy, "Status"), has_data=has_data,
         count=cached(proxy, "BeneficiaryCount"))
    method = "GetAffiliation"
    try:
        aff = proxy.call_sync(method, None, Gio.DBusCallFlags.NONE, -1, None)
        method = "GetBeneficiaries"
        bens = proxy.call_sync(method, GLib.Variant("(s)", (date,)),
                               Gio.DBusCallFlags.NONE, -1, None)
        emit(event="data", path=path, serial=aff.unpack()[0]["CardSerial"],
             first_names=[b["FirstName"] for b in bens.unpack()[0]])
    except GLib.Error as e:
        error_event(path, method, e)
    try:
        proxy.call_sync("GetBeneficiaries", GLib.Variant("(s)", ("not-a-date",)),
                        Gio.DBusCallFlags.NONE, -1, None)
    except GLib.Error as e:
        error_event(path, "GetBeneficiaries", e)


def object_added(manager, obj):
    proxy = obj.get_interface(CARD1)
    if proxy:
        # Read State now: a "done" before this object was known is not sent again.
        card_changed(proxy)


def object_removed(manager, obj):
    if obj.get_interface(CARD1):
        emit(event="removed", path=obj.get_object_path())


def properties_changed(manager, obj, proxy, changed, invalidated):
    if proxy.get_interface_name() == CARD1:
        card_changed(proxy)


def sync(manager):
    objs = manager.get_objects()
    emit(event="sync", readers=sorted(o.get_object_path() for o in objs
                                      if o.get_interface(READER1)),
         cards=sorted(o.get_object_path() for o in objs if o.get_interface(CARD1)))
    for o in objs:
        object_added(manager, o)


def owner_changed(manager, pspec, conn):
    global known
    if manager.get_name_owner() is None:
        emit(event="vanished")
        return
    # A new vitaled: the manager has fetched its objects already.
    before, known = known, set()
    sync(manager)
    for path in sorted(before):
        try:
            conn.call_sync(NAME, path, CARD1, "GetAffiliation", None, None,
                           Gio.DBusCallFlags.NONE, -1, None)
            emit(event="stale", path=path, name=None)
        except GLib.Error as e:
            emit(event="stale", path=path, name=Gio.DBusError.get_remote_error(e),
                 domain=e.domain, code=e.code)


def main():
    conn = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
    manager = Gio.DBusObjectManagerClient.new_sync(
        conn, Gio.DBusObjectManagerClientFlags.DO_NOT_AUTO_START, NAME, "/org/vitaled",
        None, None, None)
    manager.connect("object-added", object_added)
    manager.connect("object-removed", object_removed)
    manager.connect("interface-proxy-properties-changed", properties_changed)
    manager.connect("notify::name-owner", owner_changed, conn)
    sync(manager)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
