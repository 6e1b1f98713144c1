# fragment: see Makefile.am
# bench/run runs every benchmark of a built tree and writes one table
# (bench/results.md here, raw output in bench/results.log); `make bench`
# builds first.  doc/performance.md says what each figure means.
EXTRA_DIST += bench/run bench/bench-sys.py bench/bench-shared.py tests/lib/vtest/bench.py \
	bench/bench-bundle.py
bench: all
	$(PYTHON3) $(top_srcdir)/bench/run --builddir $(abs_builddir) $(BENCH_RUN_FLAGS)
.PHONY: bench
CLEANFILES += bench/results.md bench/results.log
dist_doc_DATA += doc/performance.md doc/security.md

# The floor of the idle-memory row (bench-sys.py): the daemon's libraries
# and trust store in a process that does nothing else.  --as-needed as the
# daemon: the core library's image decoders are not mapped unless asked.
noinst_PROGRAMS += bench/bench-rss-floor
bench_bench_rss_floor_SOURCES = bench/bench-rss-floor.c
bench_bench_rss_floor_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
bench_bench_rss_floor_LDADD = lib/libvitaled-core.la $(OPENSSL_LIBS) -ldl
bench_bench_rss_floor_LDFLAGS = $(AM_LDFLAGS) -Wl,--as-needed
