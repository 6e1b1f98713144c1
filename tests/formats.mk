# Open profile: test PKI, virtual cards and phones, token generator, their tests.
# All of it is test-side Python and shell, independent of the C code.
TESTS += tests/test-formats.py tests/test-tokens.py tests/test-pki.py
EXTRA_DIST += \
	tests/test-formats.py tests/test-tokens.py tests/test-pki.py \
	tests/pki/mkpki.sh tests/pki/README.md \
	tests/emu/openprofile.py tests/emu/vcard.py tests/emu/README.md \
	tests/emu/families/reference.json tests/emu/families/six.json \
	tests/emu/families/single.json tests/emu/families/legacy.json \
	tests/tokens/mktoken.py \
	tests/lib/vtest/pcsc.py tests/lib/vtest/pki.py
dist_doc_DATA += doc/formats.md
