/*
 * libFuzzer target: data groups and EF.SOD as a chip would hand them in
 * (lib/datagroups.c, lib/sod.c).  The input is a sequence of files, each a
 * top-level TLV: 61-64 DG1-DG4, 6F DG15, 77 EF.SOD, 65 legacy files, 80
 * the chip's answer to a zero challenge.  With $VD_FUZZ_TRUST (e.g. the
 * test PKI's trust.d, whose signers made the seeds' EF.SOD) the whole
 * image is also verified, signatures included.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "internal.h"

#define FUZZ_NOW	1780272000	/* inside the test PKI's validity */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The image verified in full, when a trust store is given. */
static void verify_image(const struct vd_chip_image *img)
{
	static struct vd_context *ctx;
	static struct vd_read_result *res;
	static int tried;
	struct vd_trust *trust;
	const char *dir;

	if (!tried) {
		tried = 1;
		dir = getenv("VD_FUZZ_TRUST");
		if (dir && vd_trust_load(dir, NULL, NULL, &trust) == 0) {
			ctx = vd_context_new(trust, NULL);
			vd_trust_unref(trust);
			res = vd_read_result_new();
		}
	}
	if (!ctx || !res)
		return;
	vd_chip_verify_image(ctx, img, FUZZ_NOW, res);
	/* Data only ever travels with a verified verdict. */
	if (res->has_record != (res->verdict.status == VD_STATUS_VERIFIED))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t challenge[32];
	const uint8_t *legacy[2] = { NULL, NULL }, *sod = NULL, *answer = NULL;
	size_t legacy_len[2] = { 0, 0 }, sod_len = 0, answer_len = 0;
	struct vd_chip_image img;
	struct vd_record *rec;
	struct vd_dg_set dgs;
	struct vd_verdict why;
	struct vd_tlv_iter it;
	struct vd_tlv t;
	struct vd_sod s;
	EVP_PKEY *key;
	unsigned int n_legacy = 0;

	memset(&dgs, 0, sizeof(dgs));
	vd_tlv_iter_init(&it, data, size);
	while (vd_tlv_next(&it, &t) == 1) {
		switch (t.tag) {
		case 0x61: case 0x62: case 0x63: case 0x64:
			dgs.dg[t.tag - 0x60].data = t.raw;
			dgs.dg[t.tag - 0x60].len = t.raw_len;
			break;
		case 0x6f:
			dgs.dg[15].data = t.raw;
			dgs.dg[15].len = t.raw_len;
			break;
		case 0x77:
			sod = t.raw;
			sod_len = t.raw_len;
			break;
		case 0x80:
			answer = t.value;
			answer_len = t.len;
			break;
		case 0x65:
			if (n_legacy < 2) {
				legacy[n_legacy] = t.raw;
				legacy_len[n_legacy++] = t.raw_len;
			}
			break;
		}
	}

	rec = OPENSSL_malloc(sizeof(*rec));
	if (!rec)
		return 0;
	if (vd_record_parse_dgs(&dgs, VD_FORM_CARD, rec, &why) < 0 &&
			why.status != VD_STATUS_MALFORMED)
		__builtin_trap();
	vd_record_parse_dgs(&dgs, VD_FORM_PHONE_QR, rec, &why);
	vd_record_parse_legacy(legacy[0], legacy_len[0], legacy[1], legacy_len[1], rec, &why);
	key = vd_dg15_public_key(dgs.dg[15].data, dgs.dg[15].len, &why);
	EVP_PKEY_free(key);
	if (vd_sod_parse(sod, sod_len, &s, &why) == 0) {
		vd_sod_check_dgs(&s, &dgs, &why);
		vd_sod_clear(&s);
	}
	OPENSSL_clear_free(rec, sizeof(*rec));

	memset(&img, 0, sizeof(img));
	img.form = VD_FORM_CARD;
	img.dgs = dgs;
	img.sod = sod;
	img.sod_len = sod_len;
	img.challenge = challenge;
	img.challenge_len = sizeof(challenge);
	img.aa_signature = answer;
	img.aa_signature_len = answer_len;
	verify_image(&img);
	return 0;
}
