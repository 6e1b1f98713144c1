"""Call every method vitaled's introspection advertises, on every object,
and say who answered (run as a client, with GDBus: python3-gi).

    /usr/bin/python3 -m vtest.advertised     # one JSON list on stdout

Each entry: path, interface, member, "vitaled" (the reply's sender is the
unique name owning org.vitaled, not the bus), and "error" (its name, or
null) or "value" (a string reply, for GetMachineId).  The arguments are
the plainest of their signature (a file descriptor: /dev/null), except for
the Properties methods, which
name the object's own interface and first property so that vitaled gets to
say what it thinks of them (Set: PropertyReadOnly).
"""
import json
import os
import posixpath
import xml.etree.ElementTree as ET

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

NAME = "org.vitaled"
PROPS = "org.freedesktop.DBus.Properties"
PLAIN = {"s": "", "o": "/", "v": GLib.Variant("s", ""), "b": False, "u": 0, "t": 0,
         "h": 0}    # h: index 0 of the message's descriptors


def call(bus, path, iface, member, sig="", args=()):
    msg = Gio.DBusMessage.new_method_call(NAME, path, iface, member)
    if sig:
        msg.set_body(GLib.Variant("(%s)" % sig, tuple(args)))
    if "h" in sig:
        fd = os.open(os.devnull, os.O_RDONLY)
        msg.set_unix_fd_list(Gio.UnixFDList.new_from_array([fd]))
    reply, _ = bus.send_message_with_reply_sync(msg, Gio.DBusSendMessageFlags.NONE, 30000,
                                                None)
    return reply


def arguments(iface, member, sig, own, first_prop):
    if iface == PROPS and member in ("Get", "Set", "GetAll"):
        return {"Get": [own, first_prop], "GetAll": [own],
                "Set": [own, first_prop, GLib.Variant("s", "x")]}[member]
    return [PLAIN[c] for c in sig]


def main():
    bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
    owner = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetNameOwner",
                          GLib.Variant("(s)", (NAME,)), None, 0, 30000, None).unpack()[0]
    out, todo = [], ["/"]
    while todo:
        path = todo.pop(0)
        reply = call(bus, path, "org.freedesktop.DBus.Introspectable", "Introspect")
        if reply.get_message_type() == Gio.DBusMessageType.ERROR:
            out.append({"path": path, "interface": "org.freedesktop.DBus.Introspectable",
                        "member": "Introspect", "vitaled": reply.get_sender() == owner,
                        "error": reply.get_error_name()})
            continue
        node = ET.fromstring(reply.get_body().unpack()[0])
        todo += [posixpath.join(path, n.get("name")) for n in node.findall("node")]
        own, first_prop = "", ""
        for i in node.findall("interface"):
            if i.get("name").startswith("org.vitaled."):
                own = i.get("name")
                first_prop = i.find("property").get("name")
        for i in node.findall("interface"):
            for m in i.findall("method"):
                sig = "".join(a.get("type") for a in m.findall("arg")
                              if a.get("direction", "in") == "in")
                args = arguments(i.get("name"), m.get("name"), sig, own, first_prop)
                r = call(bus, path, i.get("name"), m.get("name"), sig, args)
                entry = {"path": path, "interface": i.get("name"), "member": m.get("name"),
                         "vitaled": r.get_sender() == owner, "error": None}
                if r.get_message_type() == Gio.DBusMessageType.ERROR:
                    entry["error"] = r.get_error_name()
                elif r.get_signature() == "s":
                    entry["value"] = r.get_body().unpack()[0]
                out.append(entry)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
