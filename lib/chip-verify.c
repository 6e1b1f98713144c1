/*
 * Verification of a complete chip image — data groups, EF.SOD and the
 * active-authentication exchange — without any I/O, in the verdict order
 * of doc/formats.md: malformed → SOD (untrusted / expired / not-yet-valid
 * / revoked / forged) → clone-suspected → opposed → test-card → verified.
 */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/objects.h>

#include "internal.h"

/* Steps 2-4 on a structurally sound image; why set on failure. */
static int verify_parsed(struct vd_context *ctx, const struct vd_chip_image *img,
		struct vd_sod *sod, EVP_PKEY *aa_key, const struct vd_record *rec, time_t now,
		struct vd_verdict *why)
{
	/* 2. Passive authentication. */
	if (vd_sod_verify(sod, vd_context_trust(ctx), now, why) < 0 ||
			vd_sod_check_dgs(sod, &img->dgs, why) < 0)
		return -EPERM;

	/* 3. Active authentication: the chip holds the key of the signed DG15. */
	if (!img->challenge || img->challenge_len == 0 || !img->aa_signature ||
			vd_ecdsa_verify_raw(aa_key, vd_digest(NID_sha256), img->challenge,
				img->challenge_len, img->aa_signature,
				img->aa_signature_len) != 0) {
		vd_verdict_set(why, VD_STATUS_CLONE_SUSPECTED,
				"active authentication failed: the chip does not hold the signed key");
		return -EPERM;
	}

	/* 4. Opposition list and test/demo marker. */
	return vd_record_policy(ctx, rec, why);
}

void vd_chip_verify_sod(struct vd_context *ctx, const struct vd_chip_image *img,
		struct vd_sod *sod, time_t now, struct vd_read_result *out)
{
	struct vd_verdict *why = &out->verdict;
	struct vd_record *rec = &out->record;
	struct vd_chip_image listed = *img;
	EVP_PKEY *aa_key = NULL;
	unsigned int n;

	vd_read_result_drop_record(out);
	out->form = img->form;
	out->marker = VD_MARKER_PRODUCTION;

	/* 1. Structure of everything read (the SOD's is checked by the caller:
	 * chip.c parses it first to know which data groups to read).  A data
	 * group the SOD does not list is not covered by the signature: it is
	 * not used at all.  One it lists must be there. */
	for (n = 1; n < VD_DG_MAX; n++) {
		if (!sod->dg[n].listed) {
			listed.dgs.dg[n].data = NULL;
			listed.dgs.dg[n].len = 0;
		} else if (!img->dgs.dg[n].data) {
			vd_verdict_set(why, VD_STATUS_MALFORMED,
					"DG%u listed in EF.SOD is missing from the chip", n);
			goto fail;
		}
	}
	if (vd_record_parse_dgs(&listed.dgs, img->form, rec, why) < 0)
		goto fail;
	out->marker = rec->marker;
	aa_key = vd_dg15_public_key(listed.dgs.dg[15].data, listed.dgs.dg[15].len, why);
	if (!aa_key)
		goto fail;

	if (verify_parsed(ctx, &listed, sod, aa_key, rec, now, why) < 0)
		goto fail;
	vd_verdict_set(why, VD_STATUS_VERIFIED, "passive and active authentication passed");
	out->has_record = true;
	EVP_PKEY_free(aa_key);
	return;
fail:
	EVP_PKEY_free(aa_key);
	vd_read_result_drop_record(out);
}

void vd_chip_verify_image(struct vd_context *ctx, const struct vd_chip_image *img,
		time_t now, struct vd_read_result *out)
{
	struct vd_sod sod;

	if (vd_sod_parse(img->sod, img->sod_len, &sod, &out->verdict) < 0) {
		vd_read_result_drop_record(out);
		out->form = img->form;
		out->marker = VD_MARKER_PRODUCTION;
		return;
	}
	vd_chip_verify_sod(ctx, img, &sod, now, out);	/* drops the old record first */
	vd_sod_clear(&sod);
}
