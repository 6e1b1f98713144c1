# fragment: see Makefile.am
# bench/run runs every benchmark of a built tree and writes one table
# (bench/results.md here, raw output in bench/results.log); `make bench`
# builds first.  doc/performance.md says what each figure means.
EXTRA_DIST += bench/run bench/bench-sys.py bench/bench-shared.py tests/lib/vtest/bench.py
bench: all
	$(PYTHON3) $(top_srcdir)/bench/run --builddir $(abs_builddir) $(BENCH_RUN_FLAGS)
.PHONY: bench
CLEANFILES += bench/results.md bench/results.log
dist_doc_DATA += doc/performance.md doc/security.md
