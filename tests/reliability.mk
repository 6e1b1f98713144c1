# fragment: see Makefile.am — reliability harness (soak, fault injection).
# The long soak: VITALED_SOAK=long make check TESTS=tests/test-soak.py
TESTS += tests/test-soak.py
EXTRA_DIST += tests/test-soak.py tests/lib/vtest/soak.py
