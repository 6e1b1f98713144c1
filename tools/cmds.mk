# fragment: see Makefile.am — vitalectl commands (issue 8)
tools_vitalectl_SOURCES += tools/json.c tools/value.c tools/bus.c tools/output.c \
	tools/config.c tools/trust.c tools/readers.c tools/watch.c tools/show.c tools/diag.c
tools_vitalectl_SOURCES += tools/token.c
tools_vitalectl_CFLAGS += $(PCSC_CFLAGS) -DDBUSPOLICYDIR=\"$(dbuspolicydir)\" \
	-DLOCALEDIR=\"$(localedir)\"
tools_vitalectl_LDADD += $(PCSC_LIBS) $(LIBINTL)

bashcompletiondir = $(datadir)/bash-completion/completions
dist_bashcompletion_DATA = tools/completion/vitalectl
dist_doc_DATA += doc/vitalectl.md

# The demo (README's first command) and its program.
EXTRA_DIST += scripts/demo.sh scripts/deps.sh tools/demo/run-demo.py tools/demo/demo-family.json

TESTS += tests/test-vitalectl.py tests/test-vitalectl-diag.py tests/test-vitalectl-tty.py \
	tests/test-demo.py
EXTRA_DIST += tests/test-vitalectl.py tests/test-vitalectl-diag.py tests/test-vitalectl-tty.py \
	tests/test-demo.py

# The JSON writer on its own: every byte sequence comes out as valid JSON.
check_PROGRAMS += tests/unit/test-vitalectl-json
tests_unit_test_vitalectl_json_SOURCES = tests/unit/test-vitalectl-json.c tools/json.c
tests_unit_test_vitalectl_json_CFLAGS = $(AM_CFLAGS) $(DBUS_CFLAGS)
TESTS += tests/unit/test-vitalectl-json
