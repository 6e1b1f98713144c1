/*
 * Test side of chip tests and the chip benchmark: the test PKI, card
 * images made by the Python generator (tests/emu/openprofile.py), and the
 * chip's answer to INTERNAL AUTHENTICATE signed with its key file.
 * Never the code under test: images come from Python and openssl.
 */
#ifndef VITALED_TEST_CHIPIMG_H
#define VITALED_TEST_CHIPIMG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define CHIPIMG_SFI_SOD	0x1d

struct chipimg {
	uint8_t *files[32];	/* by SFI; NULL: absent */
	size_t lens[32];
	char chip_key[PATH_MAX + 128];	/* the key the chip really signs with */
};

/* $top_builddir/tests/pki.d/test, made by tests/pki/mkpki.sh (cached). */
const char *chipimg_pki(void);
/* Run the generator with extra arguments (e.g. "--mutate wrong-hash",
 * chip key "aa-1" unless --chip-key is among them) and load the files. */
int chipimg_make(struct chipimg *img, const char *name, const char *args);
void chipimg_free(struct chipimg *img);
/* ECDSA P-256 over SHA-256(msg) with a PEM key file, as raw r‖s. */
int chipimg_sign(const char *keyfile, const uint8_t *msg, size_t len, uint8_t sig[64]);
/* Borrowed view for vd_chip_verify_image(). */
void chipimg_view(const struct chipimg *img, enum vd_form_factor form,
		const uint8_t *challenge, size_t challenge_len, const uint8_t *sig,
		size_t sig_len, struct vd_chip_image *out);

#endif
