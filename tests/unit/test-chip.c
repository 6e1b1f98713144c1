/*
 * Chip verdicts with the real test PKI (tests/pki/mkpki.sh) and card
 * images made by the Python generator (tests/emu/openprofile.py): first
 * at image level (vd_chip_verify_image), then through vd_chip_read() over
 * a card simulated here at the APDU boundary (T=1 and T=0 habits, cards
 * pulled mid-read, nonsense answers, the legacy Vitale 2).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "chipimg.h"
#include "tap.h"

static struct vd_context *ctx, *ctx_test_ok;
static time_t now;

struct image_case {
	const char *name;
	const char *args;
	enum vd_form_factor form;
	enum vd_status want;
};

static const struct image_case image_cases[] = {
	{ "verified", "", VD_FORM_CARD, VD_STATUS_VERIFIED },
	{ "phone", "--form-factor phone", VD_FORM_PHONE_NFC, VD_STATUS_VERIFIED },
	{ "ps256-sha384", "--signer ds-ps256 --hash sha384", VD_FORM_CARD, VD_STATUS_VERIFIED },
	{ "sha512-six", "--hash sha512 --family six", VD_FORM_CARD, VD_STATUS_VERIFIED },
	{ "single", "--family single", VD_FORM_CARD, VD_STATUS_VERIFIED },
	{ "ext-ignorable", "--mutate ext-ignorable", VD_FORM_CARD, VD_STATUS_VERIFIED },
	{ "wrong-hash", "--mutate wrong-hash", VD_FORM_CARD, VD_STATUS_FORGED },
	/* an unlisted data group is not covered by the signature: not used */
	{ "dg-unlisted", "--family single --mutate dg-unlisted", VD_FORM_CARD, VD_STATUS_VERIFIED },
	{ "untrusted", "--signer ds-foreign", VD_FORM_CARD, VD_STATUS_UNTRUSTED },
	{ "expired", "--signer ds-expired", VD_FORM_CARD, VD_STATUS_EXPIRED },
	{ "not-yet-valid", "--signer ds-notyet", VD_FORM_CARD, VD_STATUS_NOT_YET_VALID },
	{ "revoked", "--signer ds-revoked", VD_FORM_CARD, VD_STATUS_REVOKED },
	{ "clone", "--chip-key aa-clone", VD_FORM_CARD, VD_STATUS_CLONE_SUSPECTED },
	{ "opposed", "--serial VTD0000009999", VD_FORM_CARD, VD_STATUS_OPPOSED },
	{ "test-marker", "--marker test", VD_FORM_CARD, VD_STATUS_TEST_CARD },
	{ "demo-marker", "--marker demo", VD_FORM_CARD, VD_STATUS_TEST_CARD },
	{ "card-as-phone", "", VD_FORM_PHONE_NFC, VD_STATUS_MALFORMED },
	{ "tlv-truncated", "--mutate tlv-truncated", VD_FORM_CARD, VD_STATUS_MALFORMED },
	{ "tlv-overlong", "--mutate tlv-overlong", VD_FORM_CARD, VD_STATUS_MALFORMED },
	{ "tlv-inner-overrun", "--mutate tlv-inner-overrun", VD_FORM_CARD, VD_STATUS_MALFORMED },
	{ "nest-bomb", "--mutate nest-bomb", VD_FORM_CARD, VD_STATUS_MALFORMED },
	{ "nest-depth5", "--mutate nest-depth5", VD_FORM_CARD, VD_STATUS_MALFORMED },
	{ "nest-leaf5", "--mutate nest-leaf5", VD_FORM_CARD, VD_STATUS_MALFORMED },
	{ "version2", "--mutate version2", VD_FORM_CARD, VD_STATUS_MALFORMED },
	{ "ext-critical", "--mutate ext-critical", VD_FORM_CARD, VD_STATUS_MALFORMED },
	{ "ext-multibyte", "--mutate ext-multibyte", VD_FORM_CARD, VD_STATUS_MALFORMED },
	{ "no-dg15", "--mutate no-dg15", VD_FORM_CARD, VD_STATUS_MALFORMED },
	/* doc/formats.md §2.1: month 00, day 00-31 */
	{ "birth-month00-day31", "--mutate birth-month00-day31", VD_FORM_CARD,
		VD_STATUS_VERIFIED },
	{ "birth-month00-day32", "--mutate birth-month00-day32", VD_FORM_CARD,
		VD_STATUS_MALFORMED },
	/* doc/formats.md §4: the signer certificate MUST be included, even
	 * when the trust store holds it; only the listed algorithms */
	{ "sod-no-cert", "--sod-nocerts", VD_FORM_CARD, VD_STATUS_MALFORMED },
	{ "sod-sha224", "--sod-md sha224", VD_FORM_CARD, VD_STATUS_MALFORMED },
	{ "sod-ps256-sha224", "--signer ds-ps256 --sod-md sha224", VD_FORM_CARD,
		VD_STATUS_MALFORMED },
	{ "sod-ps256-sha512", "--signer ds-ps256 --sod-md sha512", VD_FORM_CARD,
		VD_STATUS_VERIFIED },
	{ "sod-pss-mgf1-sha1", "--signer ds-ps256 --sod-mgf1 sha1", VD_FORM_CARD,
		VD_STATUS_MALFORMED },
	{ "sod-pss-mgf1-sha384", "--signer ds-ps256 --sod-mgf1 sha384", VD_FORM_CARD,
		VD_STATUS_MALFORMED },
	{ "sod-es256-sha384", "--sod-md sha384", VD_FORM_CARD, VD_STATUS_VERIFIED },
	/* the AA key on the chip must be the one the issuer signed */
	{ "dg15-unlisted", "--mutate dg15-unlisted", VD_FORM_CARD, VD_STATUS_MALFORMED },
	{ "dg2-listed-twice", "--mutate dg2-listed-twice", VD_FORM_CARD, VD_STATUS_MALFORMED },
};

static void verify_signed(struct vd_context *c, const struct chipimg *img,
		enum vd_form_factor form, struct vd_read_result *res)
{
	struct vd_chip_image view;
	uint8_t challenge[32], sig[64];

	RAND_bytes(challenge, sizeof(challenge));
	if (chipimg_sign(img->chip_key, challenge, sizeof(challenge), sig) < 0)
		tap_ok(0, "sign the challenge with %s", img->chip_key);
	chipimg_view(img, form, challenge, sizeof(challenge), sig, sizeof(sig), &view);
	vd_chip_verify_image(c, &view, now, res);
}

static void check_reference_record(const struct vd_record *r)
{
	const struct vd_beneficiary *b = &r->beneficiaries[0];
	struct vd_rights_status rs;
	struct vd_date d = { 2026, 6, 1 };

	tap_is(r->n_beneficiaries, 4, "reference family: 4 beneficiaries");
	tap_ok(!strcmp(r->card_serial, "VTD0000000001"), "card serial");
	tap_ok(!strcmp(r->caisse, "751") && !strcmp(r->centre, "0751") &&
			!strcmp(r->regime, "01"), "régime, caisse, centre");
	tap_ok(!strcmp(b->usual_name, "MARTIN") && !strcmp(b->first_name, "Pierre"),
			"first beneficiary's names");
	tap_ok(b->birth_date.year == 1980 && b->birth_date.month == 3 &&
			b->birth_date.day == 15, "birth date");
	tap_ok(!strcmp(b->nir, "180037505612310") && b->nir_key_valid, "NIR and its key");
	tap_ok(!strcmp(r->beneficiaries[2].first_name, "L\xc3\xa9" "a"), "UTF-8 first name");
	tap_ok(!r->beneficiaries[2].nir[0] && !r->beneficiaries[2].nir_key_valid,
			"child without NIR");
	tap_is(r->beneficiaries[1].n_coverage, 1, "spouse has one coverage");
	tap_ok(!strcmp(r->beneficiaries[1].coverage[0].situation, "ALD"), "ALD coverage");
	tap_is(b->n_amc, 1, "one AMC contract");
	/* DG4 is parsed after DG3: it must not wipe the AMO lists */
	tap_ok(b->n_rights == 1 && b->n_coverage == 1 && b->rights[0].end.year == 2035,
			"AMO rights kept next to the AMC contract");
	tap_ok(!strcmp(b->amc[0].member, "MUT-0001-A"), "AMC member number");
	vd_rights_on(&r->beneficiaries[3], &d, &rs);
	tap_ok(rs.amo_open && rs.amo_until.year == 2028 && rs.amo_until.month == 3 &&
			rs.amo_until.day == 8, "child's rights open until 2028-03-08");
}

static void test_images(void)
{
	unsigned int i;

	for (i = 0; i < sizeof(image_cases) / sizeof(image_cases[0]); i++) {
		const struct image_case *c = &image_cases[i];
		struct vd_read_result *res = vd_read_result_new();
		struct chipimg img;

		if (chipimg_make(&img, c->name, c->args) < 0) {
			tap_ok(0, "%s: generator made the image", c->name);
			continue;
		}
		verify_signed(ctx, &img, c->form, res);
		if (!tap_ok(res->verdict.status == c->want, "image %s: %s (%s)", c->name,
					vd_status_name(res->verdict.status), res->verdict.reason))
			printf("#   want %s\n", vd_status_name(c->want));
		tap_ok(res->has_record == (c->want == VD_STATUS_VERIFIED),
				"image %s: record only when verified", c->name);
		if (i == 0 && res->has_record)
			check_reference_record(&res->record);
		if (!strcmp(c->name, "dg-unlisted"))
			tap_ok(res->record.n_beneficiaries > 0 &&
					res->record.beneficiaries[0].n_amc == 0,
					"image dg-unlisted: the unlisted DG4 is not used");
		if (c->want == VD_STATUS_TEST_CARD) {
			verify_signed(ctx_test_ok, &img, c->form, res);
			tap_ok(res->verdict.status == VD_STATUS_VERIFIED && res->has_record &&
					res->marker != VD_MARKER_PRODUCTION,
					"image %s: verified when test cards are allowed (marker %s)",
					c->name, vd_marker_name(res->marker));
		}
		vd_read_result_free(res);
		chipimg_free(&img);
	}
}

/* doc/formats.md §6: ECDSA with SHA-256 over the challenge, hashed once;
 * a chip signing SHA-256(challenge) that way (hashed twice) is a clone. */
static void test_aa_hashed_once(void)
{
	struct vd_read_result *res = vd_read_result_new();
	uint8_t challenge[32], digest[32], sig[64];
	struct vd_chip_image view;
	struct chipimg img;

	if (chipimg_make(&img, "aa-hash", "") < 0) {
		tap_ok(0, "aa-hash: generator made the image");
		vd_read_result_free(res);
		return;
	}
	RAND_bytes(challenge, sizeof(challenge));
	SHA256(challenge, sizeof(challenge), digest);
	tap_ok(chipimg_sign(img.chip_key, digest, sizeof(digest), sig) == 0,
			"sign SHA-256(challenge) with ECDSA-SHA-256");
	chipimg_view(&img, VD_FORM_CARD, challenge, sizeof(challenge), sig, sizeof(sig), &view);
	vd_chip_verify_image(ctx, &view, now, res);
	tap_is(res->verdict.status, VD_STATUS_CLONE_SUSPECTED,
			"AA over the challenge hashed twice: clone-suspected (%s)",
			res->verdict.reason);
	verify_signed(ctx, &img, VD_FORM_CARD, res);
	tap_is(res->verdict.status, VD_STATUS_VERIFIED, "AA over the challenge hashed once: %s",
			res->verdict.reason);
	vd_read_result_free(res);
	chipimg_free(&img);
}

static void test_image_tampering(void)
{
	struct vd_read_result *res = vd_read_result_new();
	struct vd_chip_image view;
	uint8_t challenge[32], sig[64], other[32];
	struct chipimg img;

	if (chipimg_make(&img, "tamper", "") < 0) {
		tap_ok(0, "generator made the tamper image");
		return;
	}
	RAND_bytes(challenge, sizeof(challenge));
	memcpy(other, challenge, sizeof(other));
	other[0] ^= 1;

	/* a signature over another challenge (a replayed answer) */
	chipimg_sign(img.chip_key, other, sizeof(other), sig);
	chipimg_view(&img, VD_FORM_CARD, challenge, sizeof(challenge), sig, sizeof(sig), &view);
	vd_chip_verify_image(ctx, &view, now, res);
	tap_is(res->verdict.status, VD_STATUS_CLONE_SUSPECTED, "replayed AA answer: %s",
			res->verdict.reason);

	/* a data group the SOD lists, missing from the chip */
	chipimg_sign(img.chip_key, challenge, sizeof(challenge), sig);
	chipimg_view(&img, VD_FORM_CARD, challenge, sizeof(challenge), sig, sizeof(sig), &view);
	view.dgs.dg[3].data = NULL;
	view.dgs.dg[3].len = 0;
	vd_chip_verify_image(ctx, &view, now, res);
	tap_is(res->verdict.status, VD_STATUS_MALFORMED, "listed DG3 missing: %s",
			res->verdict.reason);

	/* no answer at all */
	chipimg_view(&img, VD_FORM_CARD, challenge, sizeof(challenge), NULL, 0, &view);
	vd_chip_verify_image(ctx, &view, now, res);
	tap_is(res->verdict.status, VD_STATUS_CLONE_SUSPECTED, "no AA answer");

	/* the last byte of the CMS is inside the signature value */
	chipimg_sign(img.chip_key, challenge, sizeof(challenge), sig);
	img.files[CHIPIMG_SFI_SOD][img.lens[CHIPIMG_SFI_SOD] - 1] ^= 0x01;
	chipimg_view(&img, VD_FORM_CARD, challenge, sizeof(challenge), sig, sizeof(sig), &view);
	vd_chip_verify_image(ctx, &view, now, res);
	tap_is(res->verdict.status, VD_STATUS_FORGED, "bad SOD signature: %s",
			res->verdict.reason);
	tap_ok(!res->has_record, "no record for a forged SOD");
	img.files[CHIPIMG_SFI_SOD][img.lens[CHIPIMG_SFI_SOD] - 1] ^= 0x01;

	/* inside the CMS, a byte of the eContent (DG1's hash in the list),
	 * then a byte of the signed messageDigest attribute: the first breaks
	 * the messageDigest match, the second the attributes' signature */
	{
		uint8_t *sod = img.files[CHIPIMG_SFI_SOD], digest[32];
		size_t sod_len = img.lens[CHIPIMG_SFI_SOD];
		ASN1_OCTET_STRING **content;
		const unsigned char *p;
		CMS_ContentInfo *cms;
		struct vd_tlv outer;
		uint8_t *at;

		SHA256(img.files[1], img.lens[1], digest);
		at = memmem(sod, sod_len, digest, sizeof(digest));
		if (tap_ok(at != NULL, "DG1's hash found in the eContent")) {
			at[5] ^= 0x01;
			vd_chip_verify_image(ctx, &view, now, res);
			tap_ok(res->verdict.status == VD_STATUS_FORGED && !res->has_record &&
					strstr(res->verdict.reason, "CMS signature"),
					"eContent changed inside the CMS: %s", res->verdict.reason);
			at[5] ^= 0x01;
		}
		at = NULL;
		cms = NULL;
		if (vd_tlv_parse_one(sod, sod_len, &outer) == 0) {
			p = outer.value;
			cms = d2i_CMS_ContentInfo(NULL, &p, (long)outer.len);
		}
		content = cms ? CMS_get0_content(cms) : NULL;
		if (content && *content) {
			SHA256(ASN1_STRING_get0_data(*content), ASN1_STRING_length(*content),
					digest);
			at = memmem(sod, sod_len, digest, sizeof(digest));
		}
		CMS_ContentInfo_free(cms);
		if (tap_ok(at != NULL, "messageDigest attribute found")) {
			at[0] ^= 0x80;
			vd_chip_verify_image(ctx, &view, now, res);
			tap_ok(res->verdict.status == VD_STATUS_FORGED && !res->has_record &&
					strstr(res->verdict.reason, "CMS signature"),
					"signed attribute changed: %s", res->verdict.reason);
			at[0] ^= 0x80;
		}
		vd_chip_verify_image(ctx, &view, now, res);
		tap_is(res->verdict.status, VD_STATUS_VERIFIED, "restored SOD verifies");
	}

	/* a data group whose hash differs from the listed one in a single
	 * byte, first, second or last: every byte of the hash is compared */
	{
		struct vd_verdict why;
		struct vd_sod sod;

		if (tap_ok(!vd_sod_parse(img.files[CHIPIMG_SFI_SOD], img.lens[CHIPIMG_SFI_SOD],
					&sod, &why), "EF.SOD parses")) {
			unsigned int at[] = { 0, 1, sod.hash_len - 1 }, i;

			tap_is(vd_sod_check_dgs(&sod, &view.dgs, &why), 0,
					"every data group matches the list");
			for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
				sod.dg[2].hash[at[i]] ^= 0x01;
				tap_ok(vd_sod_check_dgs(&sod, &view.dgs, &why) == -EPERM &&
						why.status == VD_STATUS_FORGED,
						"DG2 hash differing in byte %u of %u: %s", at[i],
						sod.hash_len, why.reason);
				sod.dg[2].hash[at[i]] ^= 0x01;
			}
			vd_sod_clear(&sod);
		}
	}

	/* a DG15 point off the curve (the SOD would not match either, but
	 * the key is refused first, as malformed) */
	{
		struct vd_verdict why;
		EVP_PKEY *key;

		key = vd_dg15_public_key(img.files[15], img.lens[15], &why);
		tap_ok(key != NULL, "DG15 key imports");
		EVP_PKEY_free(key);
		img.files[15][img.lens[15] - 1] ^= 0x01;
		key = vd_dg15_public_key(img.files[15], img.lens[15], &why);
		tap_ok(!key && why.status == VD_STATUS_MALFORMED, "point off the curve refused: %s",
				why.reason);
		EVP_PKEY_free(key);
		img.files[15][img.lens[15] - 1] ^= 0x01;
	}

	/* the same card in 2020: the signer was not valid yet */
	vd_chip_verify_image(ctx, &view, 1577836800 + 86400, res);
	tap_is(res->verdict.status, VD_STATUS_NOT_YET_VALID, "in 2020: %s", res->verdict.reason);
	vd_chip_verify_image(ctx, &view, now, res);
	tap_is(res->verdict.status, VD_STATUS_VERIFIED, "untouched image verifies again");

	vd_read_result_free(res);
	chipimg_free(&img);
}

/* A context over the trust directory `dir` (a shell command made it),
 * then the directory removed; NULL after a failed point. */
static struct vd_context *context_for(const char *made, const char *dir, const char *what,
		struct vd_trust_info *info)
{
	struct vd_context *c = NULL;
	struct vd_trust *trust;
	char cmd[PATH_MAX + 16];

	if (system(made) != 0 || vd_trust_load(dir, NULL, NULL, &trust) < 0) {
		tap_ok(0, "%s made", what);
	} else {
		vd_trust_get_info(trust, info);
		c = vd_context_new(trust, NULL);
		vd_trust_unref(trust);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_ok(0, "%s removed", what);
	return c;
}

/* EF.SOD must list DG15 itself: the AA key is the issuer's word only then
 * (the verification also drops unlisted groups, so this is checked where
 * the list is parsed). */
static void test_sod_lists_dg15(void)
{
	struct vd_verdict why;
	struct chipimg img;
	struct vd_sod sod;
	int r;

	if (chipimg_make(&img, "dg15-unlisted", "--mutate dg15-unlisted") < 0) {
		tap_ok(0, "generator made the dg15-unlisted image");
		return;
	}
	tap_ok(img.files[15] != NULL, "the chip holds a DG15");
	r = vd_sod_parse(img.files[CHIPIMG_SFI_SOD], img.lens[CHIPIMG_SFI_SOD], &sod, &why);
	if (r == 0)
		vd_sod_clear(&sod);
	tap_ok(r == -EBADMSG && why.status == VD_STATUS_MALFORMED,
			"an EF.SOD not listing it is malformed: %s", r ? why.reason : "parsed");
	chipimg_free(&img);
}

/*
 * A store holding only the root and its CRL: the signer is then the
 * certificate the SOD carries (the CMS path), chain and CRL included.
 */
static void test_signer_not_in_store(void)
{
	char dir[] = "/tmp/vitaled-chip.XXXXXX", cmd[3 * PATH_MAX];
	struct vd_read_result *res = vd_read_result_new();
	struct chipimg good, revoked;
	struct vd_context *c;
	struct vd_trust_info info;

	if (!mkdtemp(dir) || chipimg_make(&good, "nostore", "") < 0 ||
			chipimg_make(&revoked, "nostore-revoked", "--signer ds-revoked") < 0) {
		tap_ok(0, "set up the root-only store");
		vd_read_result_free(res);
		return;
	}
	snprintf(cmd, sizeof(cmd), "cp '%s/trust.d/root.pem' '%s/trust.d/root.crl' '%s'/",
			chipimg_pki(), chipimg_pki(), dir);
	c = context_for(cmd, dir, "root-only store", &info);
	if (c) {
		tap_ok(info.n_roots == 1 && info.n_signers == 0 && info.n_crls == 1,
				"root-only store: 1 root, no signer, 1 CRL");
		verify_signed(c, &good, VD_FORM_CARD, res);
		tap_is(res->verdict.status, VD_STATUS_VERIFIED,
				"signer known only from the SOD: %s", res->verdict.reason);
		verify_signed(c, &revoked, VD_FORM_CARD, res);
		tap_is(res->verdict.status, VD_STATUS_REVOKED,
				"revoked signer known only from the SOD: %s", res->verdict.reason);
		vd_context_unref(c);
	}
	chipimg_free(&good);
	chipimg_free(&revoked);
	vd_read_result_free(res);
}

/* Worker threads verify with one shared context (as the PC/SC workers do):
 * the store's prepared signer contexts are only ever copied. */
#define THREADS		4
#define PER_THREAD	25

struct worker {
	pthread_t thread;
	const struct chipimg *img;
	uint8_t challenge[32], sig[64];
	unsigned int verified;
};

static void *worker_run(void *data)
{
	struct worker *w = data;
	struct vd_read_result *res = vd_read_result_new();
	struct vd_chip_image view;
	unsigned int i;

	chipimg_view(w->img, VD_FORM_CARD, w->challenge, sizeof(w->challenge), w->sig,
			sizeof(w->sig), &view);
	for (i = 0; res && i < PER_THREAD; i++) {
		vd_chip_verify_image(ctx, &view, now, res);
		w->verified += res->verdict.status == VD_STATUS_VERIFIED && res->has_record;
	}
	vd_read_result_free(res);
	return NULL;
}

/*
 * doc/formats.md §4: the included signer certificate is the one verified.
 * The store holds a twin of ds-es256 (same issuer and serial, issued by
 * the same root, another key): a SOD carrying ds-es256 verifies under its
 * own certificate, not under the store's twin.
 */
static void test_included_signer_wins(void)
{
	char dir[] = "/tmp/vitaled-twin.XXXXXX", cmd[4096];
	struct vd_read_result *res = vd_read_result_new();
	const char *pki = chipimg_pki();
	struct vd_trust_info info;
	struct vd_context *c;
	struct chipimg img;

	if (!mkdtemp(dir) || chipimg_make(&img, "twin", "") < 0) {
		tap_ok(0, "set up the twin store");
		vd_read_result_free(res);
		return;
	}
	snprintf(cmd, sizeof(cmd),
		 "set -e; cd '%s'; mkdir new store; : >index.txt;"
		 " openssl x509 -in '%s/private/ds-es256.pem' -noout -serial | cut -d= -f2 >serial;"
		 " printf '[ca]\\ndefault_ca=c\\n[c]\\ndatabase=index.txt\\nnew_certs_dir=new\\n"
		 "serial=serial\\ncertificate=%s/private/root.pem\\nprivate_key=%s/private/root.key\\n"
		 "default_md=sha256\\npolicy=p\\nunique_subject=no\\n[p]\\ncommonName=supplied\\n"
		 "[x]\\nbasicConstraints=critical,CA:FALSE\\nkeyUsage=critical,digitalSignature\\n'"
		 " >ca.cnf;"
		 " openssl req -new -key '%s/private/aa-2.key' -subj '/CN=vitaled test DS twin'"
		 " -out twin.csr 2>/dev/null;"
		 " openssl ca -batch -config ca.cnf -in twin.csr -startdate 20240101000000Z"
		 " -enddate 20491231235959Z -extfile ca.cnf -extensions x -notext"
		 " -out store/twin.pem 2>/dev/null;"
		 " cp '%s/trust.d/root.pem' '%s/trust.d/root.crl' store/;"
		 " rm -rf new index.txt* serial* ca.cnf twin.csr; mv store/* . && rmdir store",
		 dir, pki, pki, pki, pki, pki, pki);
	c = context_for(cmd, dir, "twin store", &info);
	if (c) {
		tap_ok(info.n_roots == 1 && info.n_signers == 1, "twin store: root and the twin");
		verify_signed(c, &img, VD_FORM_CARD, res);
		tap_is(res->verdict.status, VD_STATUS_VERIFIED,
				"the included signer, not the store's twin: %s", res->verdict.reason);
		vd_context_unref(c);
	}
	chipimg_free(&img);
	vd_read_result_free(res);
}

static void test_concurrent(void)
{
	struct worker w[THREADS];
	unsigned int i, verified = 0;
	struct chipimg img;

	if (chipimg_make(&img, "threads", "") < 0) {
		tap_ok(0, "generator made the image");
		return;
	}
	memset(w, 0, sizeof(w));
	for (i = 0; i < THREADS; i++) {
		w[i].img = &img;
		RAND_bytes(w[i].challenge, sizeof(w[i].challenge));
		chipimg_sign(img.chip_key, w[i].challenge, sizeof(w[i].challenge), w[i].sig);
		if (pthread_create(&w[i].thread, NULL, worker_run, &w[i]) != 0)
			w[i].img = NULL;
	}
	for (i = 0; i < THREADS; i++) {
		if (w[i].img)
			pthread_join(w[i].thread, NULL);
		verified += w[i].verified;
	}
	tap_is(verified, THREADS * PER_THREAD, "%d threads, one context: every read verified",
			THREADS);
	chipimg_free(&img);
}

/* ---- a card simulated at the APDU boundary ----------------------------- */

struct simcard {
	const struct chipimg *img;
	const uint8_t *aid;		/* the application it answers to */
	bool t0;			/* 6C XX on a wrong Le, 61 XX for AA */
	bool legacy;
	/* 67 00 to a READ BINARY asking for more than the file has (1), or
	 * to every READ BINARY (2), as some Vitale 2 cards answer */
	unsigned int wrong_length;
	unsigned int vanish_after;	/* -ENODEV after that many APDUs; 0 never */
	bool garbage;			/* answers one byte */
	bool odd_sw;			/* answers 6F 00 with data */
	unsigned int delay_ms;		/* before each answer */
	unsigned int count;
	bool selected, in_vitale;
	int ef;				/* current EF (SFI), -1 none */
	uint8_t pending[64];
	size_t pending_len;
	uint8_t challenge[32];		/* the last INTERNAL AUTHENTICATE's */
	bool replay_aa;			/* answer every challenge with recorded */
	uint8_t recorded[64];		/* the first answer it gave */
	bool has_recorded;
	const uint8_t *legacy_files[2];
	size_t legacy_lens[2];
};

static const uint8_t card_aid[] = { 0xf0, 'V', 'I', 'T', 'A', 'L', 'E', 'D', 'C', '1' };
static const uint8_t phone_aid[] = { 0xf0, 'V', 'I', 'T', 'A', 'L', 'E', 'D', 'P', '1' };
static const uint8_t vitale_aid[] = { 0xd2, 0x50, 0x00, 0x00, 0x02, 'V', 'I', 'T', 'A', 'L', 'E' };

static int answer(uint8_t *resp, size_t *resp_len, const uint8_t *data, size_t len,
		unsigned int sw)
{
	if (len + 2 > *resp_len)
		return -EIO;
	if (len)
		memcpy(resp, data, len);
	resp[len] = sw >> 8;
	resp[len + 1] = sw & 0xff;
	*resp_len = len + 2;
	return 0;
}

static int sim_transmit(void *io_data, const uint8_t *cmd, size_t cmd_len, uint8_t *resp,
		size_t *resp_len)
{
	struct simcard *s = io_data;
	const uint8_t *file;
	size_t flen, off, le, n;

	s->count++;
	if (s->vanish_after && s->count > s->vanish_after)
		return -ENODEV;
	if (s->delay_ms)
		nanosleep(&(struct timespec){ 0, s->delay_ms * 1000000L }, NULL);
	if (s->garbage) {
		resp[0] = 0x42;
		*resp_len = 1;
		return 0;
	}
	if (s->odd_sw)
		return answer(resp, resp_len, (const uint8_t *)"??", 2, 0x6f00);
	if (cmd_len < 4)
		return answer(resp, resp_len, NULL, 0, 0x6700);
	switch (cmd[1]) {
	case 0xa4:
		if (cmd[2] == 0x00 && cmd_len == 7 && cmd[5] == 0x3f && cmd[6] == 0x00 && s->legacy) {
			s->selected = true;
			s->in_vitale = false;
			return answer(resp, resp_len, NULL, 0, 0x6120);	/* FCI waiting */
		}
		if (cmd[2] == 0x04 && s->legacy && cmd[4] == sizeof(vitale_aid) &&
				!memcmp(cmd + 5, vitale_aid, sizeof(vitale_aid))) {
			s->selected = s->in_vitale = true;
			return answer(resp, resp_len, NULL, 0, 0x9000);
		}
		if (cmd[2] == 0x04 && s->aid && cmd[4] == 10 && !memcmp(cmd + 5, s->aid, 10)) {
			s->selected = true;
			return answer(resp, resp_len, NULL, 0, 0x9000);
		}
		return answer(resp, resp_len, NULL, 0, 0x6a82);
	case 0xb0:
		if (!s->selected || cmd_len != 5)
			return answer(resp, resp_len, NULL, 0, 0x6986);
		if (cmd[2] & 0x80) {
			s->ef = cmd[2] & 0x1f;
			off = cmd[3];
		} else {
			off = (cmd[2] << 8) | cmd[3];
		}
		if (s->legacy) {
			file = s->ef == 2 ? s->legacy_files[s->in_vitale] : NULL;
			flen = s->ef == 2 ? s->legacy_lens[s->in_vitale] : 0;
		} else {
			file = s->ef >= 0 ? s->img->files[s->ef] : NULL;
			flen = s->ef >= 0 ? s->img->lens[s->ef] : 0;
		}
		if (!file)
			return answer(resp, resp_len, NULL, 0, 0x6a82);
		if (off >= flen)
			return answer(resp, resp_len, NULL, 0, 0x6b00);
		le = cmd[4] ? cmd[4] : 256;
		n = flen - off < le ? flen - off : le;
		if (s->wrong_length > 1 || (s->wrong_length && n != le))
			return answer(resp, resp_len, NULL, 0, 0x6700);
		if (s->t0 && n != le)
			return answer(resp, resp_len, NULL, 0, 0x6c00 | (n & 0xff));
		return answer(resp, resp_len, file + off, n, 0x9000);
	case 0x88: {
		uint8_t sig[64];

		if (!s->selected || s->legacy || cmd_len != 5 + 32 + 1 || cmd[4] != 32)
			return answer(resp, resp_len, NULL, 0, 0x6d00);
		memcpy(s->challenge, cmd + 5, 32);
		if (s->replay_aa && s->has_recorded)
			memcpy(sig, s->recorded, 64);
		else if (chipimg_sign(s->img->chip_key, cmd + 5, 32, sig) < 0)
			return -EIO;
		if (s->replay_aa && !s->has_recorded) {
			memcpy(s->recorded, sig, 64);
			s->has_recorded = true;
		}
		if (s->t0) {
			memcpy(s->pending, sig, 64);
			s->pending_len = 64;
			return answer(resp, resp_len, NULL, 0, 0x6140);
		}
		return answer(resp, resp_len, sig, 64, 0x9000);
	}
	case 0xc0:
		if (!s->pending_len || cmd_len != 5 || cmd[4] != s->pending_len)
			return answer(resp, resp_len, NULL, 0, 0x6985);
		s->pending_len = 0;
		return answer(resp, resp_len, s->pending, 64, 0x9000);
	}
	return answer(resp, resp_len, NULL, 0, 0x6d00);
}

static void sim_read_with(struct vd_context *c, struct simcard *s, const uint8_t *atr,
		size_t atr_len, struct vd_read_result *res)
{
	struct vd_card_io io = { sim_transmit, s };

	s->count = 0;
	s->selected = s->in_vitale = false;
	s->ef = -1;
	s->pending_len = 0;
	vd_chip_read(c, &io, atr, atr_len, now, res);
}

static void sim_read(struct simcard *s, const uint8_t *atr, size_t atr_len,
		struct vd_read_result *res)
{
	sim_read_with(ctx, s, atr, atr_len, res);
}

/* APDUs a READ BINARY sequence of one file takes with Le=00 */
static unsigned int reads(size_t len)
{
	return (unsigned int)((len + 255) / 256);
}

static void test_io(void)
{
	static const uint8_t card_atr[] = { 0x3b, 0x89, 0x80, 0x01, 'V', 'I', 'T', 'A', 'L',
		'E', 'D', 'C', '1', 0x00 };
	static const uint8_t phone_atr[] = { 0x3b, 0x8f, 0x80, 0x01, 0x80, 0x4f, 0x0c, 0xa0,
		0x00, 0x00, 0x03, 0x06, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x6a };
	static const uint8_t legacy_atr[] = { 0x3b, 0x75, 0x13, 0x00, 0x00, 0x44, 0x09, 0xea,
		0x90, 0x00 };
	/* test-side legacy files, as vcard.py makes them from legacy.json */
	static const uint8_t ident[] = { 0x65, 0x1a, 0x80, 0x07, 'B', 'E', 'R', 'N', 'A', 'R', 'D',
		0x81, 0x05, 'A', 'L', 'A', 'I', 'N', 0x82, 0x08, '1', '9', '6', '2', '0', '7', '0', '0' };
	static const uint8_t nir[] = { 0x65, 0x11, 0x93, 0x0f, '1', '6', '2', '0', '7', '7', '5',
		'1', '1', '0', '1', '2', '3', '1', '5' };
	struct vd_read_result *res = vd_read_result_new();
	struct chipimg img, phone, over, trunc;
	struct simcard s;
	unsigned int want;

	if (chipimg_make(&img, "io-card", "") < 0 ||
			chipimg_make(&phone, "io-phone", "--form-factor phone") < 0 ||
			chipimg_make(&over, "io-overlong", "--mutate tlv-overlong") < 0 ||
			chipimg_make(&trunc, "io-truncated", "--mutate tlv-truncated") < 0) {
		tap_ok(0, "generator made the I/O images");
		return;
	}

	memset(&s, 0, sizeof(s));
	s.img = &img;
	s.aid = card_aid;
	sim_read(&s, card_atr, sizeof(card_atr), res);
	tap_is(res->verdict.status, VD_STATUS_VERIFIED, "card over I/O: %s", res->verdict.reason);
	tap_ok(res->has_record && res->form == VD_FORM_CARD && res->record.n_beneficiaries == 4,
			"card over I/O: record of 4 beneficiaries");
	want = 1 + reads(img.lens[CHIPIMG_SFI_SOD]) + reads(img.lens[1]) + reads(img.lens[2]) +
		reads(img.lens[3]) + reads(img.lens[4]) + reads(img.lens[15]) + 1;
	tap_is(res->apdu_count, want, "card: %u APDUs (SELECT, EF.SOD %zu B, DG1-4+15, AA)",
			res->apdu_count, img.lens[CHIPIMG_SFI_SOD]);
	tap_is(s.count, res->apdu_count, "apdu_count counts what was sent");

	/* same card, T=0 habits: 6C XX on every short file, AA through GET RESPONSE */
	s.t0 = true;
	sim_read(&s, card_atr, sizeof(card_atr), res);
	tap_is(res->verdict.status, VD_STATUS_VERIFIED, "T=0 card (6C XX, 61 XX): %s",
			res->verdict.reason);
	tap_ok(res->apdu_count > want, "T=0 card: %u APDUs", res->apdu_count);
	s.t0 = false;

	/* a fresh challenge every read: a chip that answers the second read
	 * with its answer to the first is a copy of a recorded session */
	{
		uint8_t first[32];

		memcpy(first, s.challenge, sizeof(first));
		sim_read(&s, card_atr, sizeof(card_atr), res);
		tap_ok(res->verdict.status == VD_STATUS_VERIFIED &&
				memcmp(first, s.challenge, sizeof(first)),
				"two reads, two different AA challenges");
		s.replay_aa = true;
		sim_read(&s, card_atr, sizeof(card_atr), res);
		tap_is(res->verdict.status, VD_STATUS_VERIFIED, "recording a genuine AA answer");
		sim_read(&s, card_atr, sizeof(card_atr), res);
		tap_is(res->verdict.status, VD_STATUS_CLONE_SUSPECTED,
				"that answer replayed to a new challenge: %s", res->verdict.reason);
		tap_ok(!res->has_record, "... and no record");
		s.replay_aa = s.has_recorded = false;
	}

	/* an ATR that hints nothing: still the card application first */
	sim_read(&s, NULL, 0, res);
	tap_is(res->verdict.status, VD_STATUS_VERIFIED, "no ATR: still verified");

	/* phone over NFC: the contactless ATR makes the phone AID the first SELECT */
	memset(&s, 0, sizeof(s));
	s.img = &phone;
	s.aid = phone_aid;
	sim_read(&s, phone_atr, sizeof(phone_atr), res);
	tap_is(res->verdict.status, VD_STATUS_VERIFIED, "phone over NFC: %s", res->verdict.reason);
	tap_is(res->form, VD_FORM_PHONE_NFC, "phone form factor");
	want = 1 + reads(phone.lens[CHIPIMG_SFI_SOD]) + reads(phone.lens[1]) +
		reads(phone.lens[2]) + reads(phone.lens[3]) + reads(phone.lens[4]) +
		reads(phone.lens[15]) + 1;
	tap_is(res->apdu_count, want, "phone: %u APDUs", res->apdu_count);
	/* a phone behind a contact-card ATR: one SELECT more */
	sim_read(&s, card_atr, sizeof(card_atr), res);
	tap_ok(res->verdict.status == VD_STATUS_VERIFIED && res->apdu_count == want + 1,
			"phone found after the card AID fails (%u APDUs)", res->apdu_count);

	/* pulled at every point of the read: read-failed, never a record */
	memset(&s, 0, sizeof(s));
	s.img = &img;
	s.aid = card_aid;
	for (s.vanish_after = 1; s.vanish_after < want; s.vanish_after++) {
		sim_read(&s, card_atr, sizeof(card_atr), res);
		if (res->verdict.status != VD_STATUS_READ_FAILED || res->has_record)
			break;
	}
	tap_ok(s.vanish_after == want, "card pulled after 1..%u APDUs: read-failed, no record",
			want - 1);
	s.vanish_after = 0;

	/* a card slower than the read timeout: 3 answers of 30 ms against 50 ms */
	{
		struct vd_settings st;
		struct vd_context *quick;

		vd_settings_default(&st);
		st.read_timeout_ms = 50;
		quick = vd_context_new(vd_context_trust(ctx), &st);
		s.delay_ms = 30;
		sim_read_with(quick, &s, card_atr, sizeof(card_atr), res);
		tap_ok(res->verdict.status == VD_STATUS_READ_FAILED && !res->has_record &&
				res->apdu_count <= 3, "slow card: read-failed after %u APDUs (%s)",
				res->apdu_count, res->verdict.reason);
		s.delay_ms = 0;
		vd_context_unref(quick);
	}

	/* answers without a status word: the card is going away */
	s.garbage = true;
	sim_read(&s, card_atr, sizeof(card_atr), res);
	tap_ok(res->verdict.status == VD_STATUS_READ_FAILED && !res->has_record,
			"one-byte answers: read-failed (%s)", res->verdict.reason);
	s.garbage = false;

	/* status words no card gives to a SELECT: nonsense */
	s.odd_sw = true;
	sim_read(&s, card_atr, sizeof(card_atr), res);
	tap_is(res->verdict.status, VD_STATUS_MALFORMED, "nonsense status words: %s",
			res->verdict.reason);
	s.odd_sw = false;

	/* a card with no known application */
	s.aid = NULL;
	sim_read(&s, card_atr, sizeof(card_atr), res);
	tap_is(res->verdict.status, VD_STATUS_UNSUPPORTED, "no application: %s",
			res->verdict.reason);
	tap_is(res->apdu_count, 3, "unsupported card: 3 SELECTs");

	/* files whose TLV says more than the card has, or more than the cap */
	s.aid = card_aid;
	s.img = &over;
	sim_read(&s, card_atr, sizeof(card_atr), res);
	tap_is(res->verdict.status, VD_STATUS_MALFORMED, "over-long DG2 over I/O: %s",
			res->verdict.reason);
	s.img = &trunc;
	sim_read(&s, card_atr, sizeof(card_atr), res);
	tap_is(res->verdict.status, VD_STATUS_MALFORMED, "truncated DG1 over I/O: %s",
			res->verdict.reason);
	tap_ok(!res->has_record, "no record for a malformed card");

	/* legacy Vitale 2: identity only */
	memset(&s, 0, sizeof(s));
	s.legacy = true;
	s.legacy_files[0] = ident;
	s.legacy_lens[0] = sizeof(ident);
	s.legacy_files[1] = nir;
	s.legacy_lens[1] = sizeof(nir);
	sim_read(&s, legacy_atr, sizeof(legacy_atr), res);
	tap_is(res->verdict.status, VD_STATUS_UNVERIFIABLE, "legacy card: %s",
			res->verdict.reason);
	tap_ok(res->has_record && res->form == VD_FORM_LEGACY_CARD &&
			res->record.n_beneficiaries == 1 &&
			!strcmp(res->record.beneficiaries[0].usual_name, "BERNARD") &&
			!strcmp(res->record.beneficiaries[0].qualite, "00") &&
			res->record.beneficiaries[0].birth_date.day == 0,
			"legacy record: one beneficiary, lunar birth date kept");
	tap_ok(!strcmp(res->record.beneficiaries[0].nir, "162077511012315"),
			"legacy NIR read");
	tap_is(res->apdu_count, 4, "legacy: 4 APDUs (SELECT MF, READ, SELECT VITALE, READ)");
	/* behind an unknown ATR the open-profile SELECTs come first */
	sim_read(&s, NULL, 0, res);
	tap_ok(res->verdict.status == VD_STATUS_UNVERIFIABLE && res->apdu_count == 6,
			"legacy without its ATR: %u APDUs", res->apdu_count);
	/* 67 00 instead of 6C XX to Le=00: the header, then the exact rest */
	s.wrong_length = 1;
	sim_read(&s, legacy_atr, sizeof(legacy_atr), res);
	tap_ok(res->verdict.status == VD_STATUS_UNVERIFIABLE && res->has_record &&
			!strcmp(res->record.beneficiaries[0].nir, "162077511012315") &&
			strstr(res->verdict.reason, "67 00 to Le=00"),
			"legacy answering 67 00: read (%s)", res->verdict.reason);
	tap_is(res->apdu_count, 8, "legacy answering 67 00: 8 APDUs (2 more per file)");
	s.wrong_length = 2;
	sim_read(&s, legacy_atr, sizeof(legacy_atr), res);
	tap_ok(res->verdict.status == VD_STATUS_UNSUPPORTED && !res->has_record &&
			strstr(res->verdict.reason, "SFI 02 answered 67 00 to Le=00, then 67 00 to Le=04"),
			"legacy answering 67 00 to every length: unsupported, saying so (%s)",
			res->verdict.reason);

	vd_read_result_free(res);
	chipimg_free(&img);
	chipimg_free(&phone);
	chipimg_free(&over);
	chipimg_free(&trunc);
}

static void report(const char *path, const char *why, void *user_data)
{
	printf("# trust: %s: %s\n", path, why);
	(*(unsigned int *)user_data)++;
}

int main(void)
{
	struct vd_settings settings;
	struct vd_trust *trust;
	unsigned int bad = 0;
	char dir[PATH_MAX];
	int err;

	now = 1780272000;	/* 2026-06-01T00:00:00Z */
	snprintf(dir, sizeof(dir), "%s/trust.d", chipimg_pki());
	err = vd_trust_load(dir, report, &bad, &trust);
	tap_ok(err == 0 && bad == 0, "test PKI trust store loads cleanly");
	if (err)
		return tap_done();
	vd_settings_default(&settings);
	ctx = vd_context_new(trust, &settings);
	settings.allow_test_cards = true;
	ctx_test_ok = vd_context_new(trust, &settings);
	vd_trust_unref(trust);

	test_images();
	test_aa_hashed_once();
	test_image_tampering();
	test_sod_lists_dg15();
	test_signer_not_in_store();
	test_included_signer_wins();
	test_concurrent();
	test_io();

	vd_context_unref(ctx);
	vd_context_unref(ctx_test_ok);
	return tap_done();
}
