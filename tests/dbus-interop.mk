# fragment: see Makefile.am — org.vitaled through the client libraries
# vendors use (issue 22): GDBus, sd-bus, dbus-next; doc/examples/ runs here.

TESTS += tests/test-dbus-interop.py
EXTRA_DIST += tests/test-dbus-interop.py tests/lib/vtest/advertised.py
