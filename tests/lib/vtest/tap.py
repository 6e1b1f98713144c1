"""A small TAP producer: automake's tap-driver counts what it prints."""
import sys
import traceback


class Tap:
    def __init__(self):
        self.count = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.count += 1
        print(("ok" if cond else "not ok") + " %d - %s" % (self.count, name), flush=True)
        if not cond:
            self.failed += 1
            if diag:
                for line in str(diag).splitlines():
                    print("#   " + line, flush=True)
        return bool(cond)

    def eq(self, got, want, name):
        return self.ok(got == want, name, "got  %r\nwant %r" % (got, want))

    def skip(self, name, why):
        self.count += 1
        print("ok %d - %s # SKIP %s" % (self.count, name, why), flush=True)

    def diag(self, text):
        for line in str(text).splitlines():
            print("# " + line, flush=True)

    def bail(self, why):
        print("Bail out! " + why, flush=True)
        sys.exit(1)

    def done(self):
        print("1..%d" % self.count, flush=True)
        sys.exit(1 if self.failed else 0)

    def run(self, func, *args):
        """Run one test function; an exception is a failure, not a crash."""
        try:
            func(self, *args)
        except Exception:  # noqa: BLE001 - report and go on with the next test
            self.ok(False, "%s raised" % func.__name__, traceback.format_exc())
