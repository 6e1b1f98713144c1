/*
 * Verification of a complete chip image — data groups, EF.SOD and the
 * active-authentication exchange — without any I/O, in the verdict order
 * of doc/formats.md: malformed → SOD (untrusted / expired / not-yet-valid
 * / revoked / forged) → clone-suspected → opposed → test-card → verified.
 */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "internal.h"

void vd_chip_verify_image(struct vd_context *ctx, const struct vd_chip_image *img,
		time_t now, struct vd_read_result *out)
{
	struct vd_verdict *why = &out->verdict;
	struct vd_record *rec = &out->record;
	struct vd_sod sod;
	EVP_PKEY *aa_key = NULL;
	bool sod_parsed = false;

	vd_read_result_drop_record(out);
	out->form = img->form;
	out->marker = VD_MARKER_PRODUCTION;

	/* 1. Structure of everything read. */
	if (vd_record_parse_dgs(&img->dgs, img->form, rec, why) < 0)
		goto fail;
	out->marker = rec->marker;
	aa_key = vd_dg15_public_key(img->dgs.dg[15].data, img->dgs.dg[15].len, why);
	if (!aa_key)
		goto fail;
	if (vd_sod_parse(img->sod, img->sod_len, &sod, why) < 0)
		goto fail;
	sod_parsed = true;

	/* 2. Passive authentication. */
	if (vd_sod_verify(&sod, vd_context_trust(ctx), now, why) < 0 ||
			vd_sod_check_dgs(&sod, &img->dgs, why) < 0)
		goto fail;

	/* 3. Active authentication: the chip holds the key of the signed DG15. */
	if (!img->challenge || img->challenge_len == 0 || !img->aa_signature ||
			vd_ecdsa_verify_raw(aa_key, EVP_sha256(), img->challenge,
				img->challenge_len, img->aa_signature,
				img->aa_signature_len) != 0) {
		vd_verdict_set(why, VD_STATUS_CLONE_SUSPECTED,
				"active authentication failed: the chip does not hold the signed key");
		goto fail;
	}

	/* 4. Opposition list and test/demo marker. */
	if (vd_record_policy(ctx, rec, why) < 0)
		goto fail;

	vd_verdict_set(why, VD_STATUS_VERIFIED, "passive and active authentication passed");
	out->has_record = true;
	vd_sod_clear(&sod);
	EVP_PKEY_free(aa_key);
	return;
fail:
	if (sod_parsed)
		vd_sod_clear(&sod);
	EVP_PKEY_free(aa_key);
	vd_read_result_drop_record(out);
}
