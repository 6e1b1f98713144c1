# Test harness shared by every test fragment.
EXTRA_DIST += tests/unit/tap.h tests/lib/vtest/__init__.py tests/lib/vtest/tap.py
