# libvitaled-core: the verification engine, linked into vitaled and vitalectl.
noinst_LTLIBRARIES += lib/libvitaled-core.la
lib_libvitaled_core_la_SOURCES = lib/vitaled-core.h lib/file.c lib/ini.c lib/trust-update-conf.h lib/trust-update-conf.c
lib_libvitaled_core_la_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(ZLIB_CFLAGS)
lib_libvitaled_core_la_LIBADD = $(OPENSSL_LIBS) $(ZLIB_LIBS)
