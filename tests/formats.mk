# Open profile: test PKI, virtual cards and phones, token generator, their tests.
EXTRA_DIST += \
	tests/pki/mkpki.sh tests/pki/README.md
