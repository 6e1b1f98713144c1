#!/usr/bin/python3
"""Listen to everything this user can get from the bus, as an attacker would.

Run as the outsider during a card read: it asks for every signal and for
eavesdropping (match rules with eavesdrop=true; BecomeMonitor is tried too
and expected to be refused) and prints every message it receives, with its
arguments, until SIGINT or SIGTERM.  The test then looks for personal data
in that output.
"""
import signal
import sys

import dbus
import dbus.mainloop.glib
from gi.repository import GLib


def show(bus, msg):
    kind = {1: "call", 2: "return", 3: "error", 4: "signal"}.get(msg.get_type(), "?")
    print("%s from %s path=%s member=%s args=%r" % (
        kind, msg.get_sender(), msg.get_path(), msg.get_member(), msg.get_args_list()),
        flush=True)


def main():
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SystemBus()
    bus.add_message_filter(show)
    for rule in ("eavesdrop=true", "type='signal'", "sender='org.vitaled'",
                 "eavesdrop=true,type='method_return'", "eavesdrop=true,type='method_call'"):
        try:
            bus.add_match_string(rule)
            print("match %s: accepted" % rule, flush=True)
        except dbus.exceptions.DBusException as e:
            print("match %s: %s" % (rule, e.get_dbus_name()), flush=True)
    try:
        bus.call_blocking("org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus.Monitoring", "BecomeMonitor", "asu", ([], 0))
        print("BecomeMonitor: accepted", flush=True)
    except dbus.exceptions.DBusException as e:
        print("BecomeMonitor: %s" % e.get_dbus_name(), flush=True)
    loop = GLib.MainLoop()
    for signo in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signo, loop.quit)
    print("listening", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
