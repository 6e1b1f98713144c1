# Test harness shared by every test fragment.
EXTRA_DIST += tests/unit/tap.h tests/lib/vtest/__init__.py tests/lib/vtest/tap.py tests/lib/vtest/paths.py \
	tests/lib/vtest/proc.py

# External plugins for the loader tests (one with a wrong ABI version).
check_LTLIBRARIES = tests/plugins/external.la tests/plugins/wrongabi.la
tests_plugins_external_la_SOURCES = tests/plugins/external.c
tests_plugins_external_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
tests_plugins_wrongabi_la_SOURCES = tests/plugins/external.c
tests_plugins_wrongabi_la_CPPFLAGS = $(AM_CPPFLAGS) -DWRONG_ABI
tests_plugins_wrongabi_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere

TESTS += tests/test-daemon.py
EXTRA_DIST += tests/test-daemon.py tests/lib/vtest/daemon.py

# doc/security.md's threat -> test tables cite real tests of the C code;
# tests/mutants/run plants the bugs those tests must catch (HACKING.md).
TESTS += tests/test-security-doc.py
EXTRA_DIST += tests/test-security-doc.py tests/mutants/run tests/mutants/list
