#!/usr/bin/python3
"""Another PC/SC application on the same reader (the practice's billing
software, as far as pcscd can tell): pyscard, its own process and context.

    other-app.py READER
reads commands on stdin, one a line, and answers one line ("ok ..." or
"error ..."):
  connect exclusive|shared   SCardConnect (T=0 or T=1)
  begin | end                SCardBeginTransaction / SCardEndTransaction (leave)
  apdus                      its own sequence: SELECT the card application,
                             READ BINARY of DG1 by SFI (8 bytes), then the
                             next 8 bytes by offset: the second read depends
                             on the file the first one selected, so anyone
                             else's APDU in between changes the answer
  reference                  run "apdus" and keep the answer as the reference
  burst SECONDS              connected shared, as many short transactions
                             (begin, apdus, end) as fit: "ok N" with N
                             transactions, each checked against the reference
  window SECONDS             wait for a card, connect shared, run short
                             transactions for SECONDS (or until the card
                             goes), disconnect: "ok CONNECT_US T1_US T2_US ..."
                             (the connect's time, then each transaction's)
  disconnect [reset]          SCardDisconnect, leaving the card (or resetting it)
  quit
A card pulled or reset answers "error ...".  Used by tests/test-pcsc-shared.py
and bench/bench-shared.py.
"""
import sys
import time

from smartcard import scard as s

CARD_AID = bytes.fromhex("F0 56 49 54 41 4C 45 44 43 31")


class App:
    def __init__(self, reader):
        self.reader = reader
        rv, self.ctx = s.SCardEstablishContext(s.SCARD_SCOPE_USER)
        if rv != s.SCARD_S_SUCCESS:
            raise SystemExit("no PC/SC context: %s" % s.SCardGetErrorMessage(rv))
        self.card = None
        self.proto = None
        self.reference = None
        self.latencies = []

    def check(self, rv, what):
        if rv != s.SCARD_S_SUCCESS:
            raise RuntimeError("%s: %s" % (what, s.SCardGetErrorMessage(rv)))

    def connect(self, mode):
        share = s.SCARD_SHARE_EXCLUSIVE if mode == "exclusive" else s.SCARD_SHARE_SHARED
        rv, self.card, self.proto = s.SCardConnect(self.ctx, self.reader, share,
                                                   s.SCARD_PROTOCOL_T0 | s.SCARD_PROTOCOL_T1)
        self.check(rv, "connect")

    def transmit(self, apdu):
        rv, resp = s.SCardTransmit(self.card, self.proto, list(apdu))
        self.check(rv, "transmit")
        if len(resp) < 2:
            raise RuntimeError("no status word")
        return bytes(resp)

    def apdus(self):
        sel = self.transmit(b"\x00\xA4\x04\x00" + bytes([len(CARD_AID)]) + CARD_AID + b"\x00")
        first = self.transmit(b"\x00\xB0\x81\x00\x08")
        second = self.transmit(b"\x00\xB0\x00\x08\x08")
        return (sel[-2:] + first + second).hex()

    def transaction(self):
        t0 = time.monotonic()
        self.check(s.SCardBeginTransaction(self.card), "begin")
        try:
            answer = self.apdus()
        finally:
            self.check(s.SCardEndTransaction(self.card, s.SCARD_LEAVE_CARD), "end")
        self.latencies.append(time.monotonic() - t0)
        return answer

    def burst(self, seconds):
        n = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            answer = self.transaction()
            if answer != self.reference:
                return "error transaction %d answered %s, not %s" % (n + 1, answer,
                                                                    self.reference)
            n += 1
        return "ok %d" % n

    def window(self, seconds):
        state = s.SCARD_STATE_UNAWARE
        while True:
            rv, states = s.SCardGetStatusChange(self.ctx, 60000, [(self.reader, state)])
            self.check(rv, "waiting for a card")
            state = states[0][1] & ~s.SCARD_STATE_CHANGED
            if state & s.SCARD_STATE_PRESENT:
                break
        t0 = time.monotonic()
        self.connect("shared")
        out = ["%d" % ((time.monotonic() - t0) * 1e6)]
        self.latencies = []
        end = time.monotonic() + seconds
        try:
            first = None
            while time.monotonic() < end:
                answer = self.transaction()
                if first is not None and answer != first:
                    raise RuntimeError("a transaction answered %s, not %s" % (answer, first))
                first = answer
        except RuntimeError as e:
            if "removed" not in str(e).lower():
                raise
        finally:
            s.SCardDisconnect(self.card, s.SCARD_LEAVE_CARD)
            self.card = None
        return "ok " + " ".join(out + ["%d" % (x * 1e6) for x in self.latencies])

    def run(self, line):
        cmd, *args = line.split()
        if cmd == "connect":
            self.connect(args[0])
        elif cmd == "begin":
            self.check(s.SCardBeginTransaction(self.card), "begin")
        elif cmd == "end":
            self.check(s.SCardEndTransaction(self.card, s.SCARD_LEAVE_CARD), "end")
        elif cmd == "apdus":
            return "ok " + self.apdus()
        elif cmd == "reference":
            self.reference = self.transaction()
            return "ok " + self.reference
        elif cmd == "burst":
            self.latencies = []
            return self.burst(float(args[0]))
        elif cmd == "window":
            return self.window(float(args[0]))
        elif cmd == "disconnect":
            how = s.SCARD_RESET_CARD if args == ["reset"] else s.SCARD_LEAVE_CARD
            self.check(s.SCardDisconnect(self.card, how), "disconnect")
            self.card = None
        else:
            return "error unknown command %r" % cmd
        return "ok"


def main():
    app = App(sys.argv[1])
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        try:
            answer = app.run(line.strip())
        except (RuntimeError, IndexError, ValueError) as e:
            answer = "error %s" % e
        print(answer, flush=True)


if __name__ == "__main__":
    main()
