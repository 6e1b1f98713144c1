#!/usr/bin/python3
"""The fastest card insertion the harness allows: one process keeps one
virtual chip of tests/emu/vcard.py (built once) and plugs it into the vpcd
reader again and again, driven line by line on stdin:

    insert   connect to vpcd (pcscd sees a card), answer until "remove"
    remove   close the connection (pcscd sees the card go)
    (EOF)    exit

Each command is acknowledged with "ok" on stdout.  Runs inside the private
network namespace of vtest.pcsc (vpcd listens there).  Speaks vpcd's
protocol itself (2-byte big-endian length, then a control byte or an APDU;
the reply to GET_ATR and to an APDU is framed the same way).

    cycler.py --pki DIR [--profile card|phone] [--variant V] [--reader 0|1]
"""
import argparse
import os
import select
import socket
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "emu"))
import vcard  # noqa: E402

POWER_OFF, POWER_ON, RESET, GET_ATR = 0, 1, 2, 4


def recv_all(sock, n):
    buf = b""
    while len(buf) < n:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        part = sock.recv(n - len(buf))
        if not part:
            return None
        buf += part
    return buf


def serve_one(sock, chip):
    """Answer one message from vpcd; False when vpcd closed."""
    head = recv_all(sock, 2)
    if head is None:
        return False
    msg = recv_all(sock, struct.unpack(">H", head)[0])
    if msg is None:
        return False
    if len(msg) == 1:
        if msg[0] == GET_ATR:
            out = chip.getATR()
        else:
            if msg[0] in (POWER_ON, RESET):
                chip.powerUp()
            else:
                chip.powerDown()
            return True
    else:
        out = chip.execute(msg)
    sock.sendall(struct.pack(">H", len(out)) + out)
    return True


class Commands:
    """Lines from fd 0, unbuffered by Python so select() sees them all."""

    def __init__(self):
        self.buf = b""
        self.eof = False

    def pending(self):
        return b"\n" in self.buf or self.eof

    def fill(self):
        data = os.read(0, 4096)
        self.buf += data
        self.eof = not data

    def next(self):
        while not self.pending():
            self.fill()
        if b"\n" not in self.buf:
            return None
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode().strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pki", required=True)
    ap.add_argument("--profile", choices=("card", "phone"), default="card")
    ap.add_argument("--variant", default="reference")
    ap.add_argument("--reader", type=int, default=0, choices=(0, 1))
    a = ap.parse_args()
    args = argparse.Namespace(pki=a.pki, profile=a.profile, variant=a.variant, family=None,
                              signer=None, aa_key="aa-1", delay=None, max_apdus=None,
                              seed=None)
    chip = vcard.make_os(args)
    port = vcard.VPCD_PORT + a.reader
    cmds = Commands()
    sock = None
    while True:
        cmd = cmds.next()
        if cmd is None:
            break
        if cmd == "insert" and sock is None:
            sock = vcard.QuickICC.connectToPort("127.0.0.1", port)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            print("ok", flush=True)
            # Serve vpcd until the next command arrives.
            while not cmds.pending():
                r, _, _ = select.select([sock, 0], [], [])
                if 0 in r:
                    cmds.fill()
                elif not serve_one(sock, chip):
                    sock.close()
                    sock = None
                    break
        elif cmd == "remove":
            if sock is not None:
                sock.close()
                sock = None
            chip.reset()
            print("ok", flush=True)
    if sock is not None:
        sock.close()


if __name__ == "__main__":
    main()
