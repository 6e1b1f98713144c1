"""Test harness for vitaled integration tests (TAP output, private services)."""
