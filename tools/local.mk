bin_PROGRAMS += tools/vitalectl
tools_vitalectl_SOURCES = tools/vitalectl.h tools/vitalectl.c tools/status.c
tools_vitalectl_CFLAGS = $(AM_CFLAGS) $(DBUS_CFLAGS) $(OPENSSL_CFLAGS) $(JSONC_CFLAGS)
tools_vitalectl_LDADD = lib/libvitaled-core.la $(DBUS_LIBS) $(OPENSSL_LIBS) $(JSONC_LIBS)
# json.c's unit test (tools/cmds.mk) needs json-c too
tests_unit_test_vitalectl_json_CPPFLAGS = $(AM_CPPFLAGS) $(JSONC_CFLAGS)
tests_unit_test_vitalectl_json_LDADD = $(JSONC_LIBS)
