#!/usr/bin/python3
"""Insert and remove one emulated chip many times, fast.

Builds the chip of tests/emu/vcard.py once (or takes the one --image names,
written by tests/emu/openprofile.py --out: the very same bytes in every
cycler), then, for each line on stdin:
  in [N]        connect to vpcd (the card appears in the reader); with N,
                the card vanishes when the reader sends APDU number N+1
  out           disconnect (the card is pulled)
  dump PATH     write the command APDUs of the last insertion, one hex line each
  quit
and answers "ok" (or "error ...") on stdout.  Used by the 200-cycle leak
test and by bench/bench-card, where starting vcard.py per insertion (it
builds the card image with openssl) would dominate.  Run it inside the
private network namespace of vtest.pcsc (Pcsc.netns_popen).
"""
import argparse
import logging
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emu"))
import vcard  # noqa: E402


class Cycler:
    def __init__(self, chip, host, port):
        self.chip = chip
        self.host = host
        self.port = port
        self.icc = None
        self.thread = None
        self.commands = []
        self.pull_after = None
        execute = chip.execute

        def recording(msg):
            if self.pull_after is not None and len(self.commands) >= self.pull_after:
                # pulled mid-read: the reader sees the connection drop
                self.icc.sock.sock.shutdown(socket.SHUT_RDWR)
                raise SystemExit
            self.commands.append(bytes(msg))
            return execute(msg)
        chip.execute = recording

    def insert(self, pull_after=None):
        if self.icc:
            self.remove()
        self.commands = []
        self.pull_after = pull_after
        icc = vcard.QuickICC(None, "iso7816", self.host, self.port, logginglevel=logging.ERROR)
        icc.sock = vcard.QuickSocket(icc.sock)
        icc.os = self.chip
        self.chip.powerUp()
        self.icc = icc
        # run() ends (SystemExit in its thread) when the socket is shut down
        self.thread = threading.Thread(target=icc.run, daemon=True)
        self.thread.start()

    def remove(self):
        if not self.icc:
            return
        try:
            self.icc.sock.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(10)
        self.icc.sock.close()
        self.icc = None

    def dump(self, path):
        with open(path, "w") as f:
            for c in self.commands:
                f.write(c.hex() + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pki", required=True)
    ap.add_argument("--family")
    ap.add_argument("--profile", choices=("card", "phone", "legacy"), default="card")
    ap.add_argument("--variant", default="reference")
    ap.add_argument("--reader", type=int, default=0, choices=range(16),
                    help="vpcd reader: TCP port 35963 + N (vtest.pcsc: readers=N)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--image", help="chip image directory (openprofile.py --out) to use "
                    "instead of building one")
    args = ap.parse_args()
    # what vcard.make_os reads besides ours
    args.signer, args.aa_key, args.delay, args.max_apdus, args.seed = None, "aa-1", None, None, None
    args.stall_after = None
    cyc = Cycler(vcard.make_os(args), args.host, vcard.VPCD_PORT + args.reader)
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        try:
            if not cmd:
                continue
            if cmd[0] == "in":
                cyc.insert(int(cmd[1]) if len(cmd) > 1 else None)
            elif cmd[0] == "out":
                cyc.remove()
            elif cmd[0] == "dump":
                cyc.dump(cmd[1])
            elif cmd[0] == "quit":
                break
            else:
                raise ValueError("unknown command %r" % cmd[0])
            print("ok", flush=True)
        except Exception as e:  # noqa: BLE001 - report to the driver, keep serving
            print("error %s" % e, flush=True)
    cyc.remove()


if __name__ == "__main__":
    main()
