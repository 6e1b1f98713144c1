# fragment: see Makefile.am — reliability harness (soak, fault injection).
# The long soak: VITALED_SOAK=long make check TESTS=tests/test-soak.py
# (tests/test-faults.py uses libfaketime, Debian package faketime, for the
# clock jumps and skips them without it.)
TESTS += tests/test-soak.py tests/test-faults.py
EXTRA_DIST += tests/test-soak.py tests/test-faults.py tests/lib/vtest/soak.py
