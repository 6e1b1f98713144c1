bin_PROGRAMS += tools/vitalectl
tools_vitalectl_SOURCES = tools/vitalectl.h tools/vitalectl.c tools/status.c
tools_vitalectl_CFLAGS = $(AM_CFLAGS) $(DBUS_CFLAGS) $(OPENSSL_CFLAGS)
tools_vitalectl_LDADD = lib/libvitaled-core.la $(DBUS_LIBS) $(OPENSSL_LIBS)
