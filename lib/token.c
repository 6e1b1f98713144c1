/*
 * Open-profile QR tokens: "VT1:" + base45(zlib(COSE_Sign1)).
 *
 * The outer COSE_Sign1 is the presentation, signed by the phone's holder
 * key; its payload carries the inner, issuer-signed document whose cnf
 * claim names that holder key.  So a token proves both that the issuer
 * wrote the data and that the phone holding the key showed it just now.
 * Steps and verdicts follow doc/formats.md, in its order.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#include "internal.h"

/* CWT claims (RFC 8392) and ours. */
#define CWT_ISS		1
#define CWT_EXP		4
#define CWT_IAT		6
#define CWT_CTI		7
#define CWT_CNF		8
#define CLAIM_DGS	(-65537)
#define CLAIM_DOCUMENT	(-65538)
#define CNF_COSE_KEY	1
/* COSE_Key (RFC 9052 §7, RFC 9053 §7.1) */
#define KEY_KTY		1
#define KEY_CRV		(-1)
#define KEY_X		(-2)
#define KEY_Y		(-3)
#define KTY_EC2		2
#define CRV_P256	1

#define TOKEN_PREFIX	"VT1:"
#define TOKEN_VERSION_DIGITS 3	/* "VT" 1 to 999 ":" */
#define TOKEN_ID_LEN	16
/* The most a QR code holds in alphanumeric mode (version 40-L): longer
 * text never came from a scanner. */
#define TOKEN_TEXT_MAX	4296
#define MAX_SIGNERS	8	/* certificates tried for one kid */

/* Claims seen, as bits of struct claims.seen. */
#define SEEN_ISS	(1u << 0)
#define SEEN_EXP	(1u << 1)
#define SEEN_IAT	(1u << 2)
#define SEEN_CTI	(1u << 3)
#define SEEN_CNF	(1u << 4)
#define SEEN_DGS	(1u << 5)
#define SEEN_DOCUMENT	(1u << 6)
#define PRESENTATION_CLAIMS	(SEEN_IAT | SEEN_EXP | SEEN_CTI | SEEN_DOCUMENT)
#define DOCUMENT_CLAIMS		(SEEN_ISS | SEEN_IAT | SEEN_EXP | SEEN_CNF | SEEN_DGS)

struct claims {
	uint32_t seen;
	int64_t iat, exp;
	const uint8_t *cti;
	size_t cti_len;
	const uint8_t *document;	/* outer: the inner COSE_Sign1 */
	size_t document_len;
	const uint8_t *cnf;		/* inner: the COSE_Key map */
	size_t cnf_len;
	const uint8_t *dgs;		/* inner: the data group map */
	size_t dgs_len;
};

/* The encoded bytes of the next item, skipped. */
static int get_raw(struct vd_cbor *c, const uint8_t **p, size_t *len)
{
	const uint8_t *start = c->pos;

	if (vd_cbor_skip(c))
		return -EBADMSG;
	*p = start;
	*len = (size_t)(c->pos - start);
	return 0;
}

/* NumericDate of this profile: an unsigned integer (no floats). */
static int get_uint_time(struct vd_cbor *c, int64_t *t)
{
	return vd_cbor_get_int(c, t) || *t < 0 ? -EBADMSG : 0;
}

/*
 * One claims map, integer keys only.  A claim given twice is malformed;
 * unknown claims are skipped (CWT allows them).  The caller checks which
 * claims it needs in cl->seen.
 */
static int parse_claims(const uint8_t *buf, size_t len, struct claims *cl)
{
	struct vd_cbor c;
	size_t n, i;

	memset(cl, 0, sizeof(*cl));
	vd_cbor_init(&c, buf, len);
	if (vd_cbor_get_map(&c, &n))
		return -EBADMSG;
	for (i = 0; i < n; i++) {
		const char *iss;
		size_t iss_len;
		uint32_t bit;
		int64_t key;
		int ret;

		if (vd_cbor_get_int(&c, &key))
			return -EBADMSG;
		switch (key) {
		case CWT_ISS:
			bit = SEEN_ISS;
			ret = vd_cbor_get_tstr(&c, &iss, &iss_len);
			break;
		case CWT_EXP:
			bit = SEEN_EXP;
			ret = get_uint_time(&c, &cl->exp);
			break;
		case CWT_IAT:
			bit = SEEN_IAT;
			ret = get_uint_time(&c, &cl->iat);
			break;
		case CWT_CTI:
			bit = SEEN_CTI;
			ret = vd_cbor_get_bstr(&c, &cl->cti, &cl->cti_len);
			break;
		case CWT_CNF:
			bit = SEEN_CNF;
			ret = get_raw(&c, &cl->cnf, &cl->cnf_len);
			break;
		case CLAIM_DGS:
			bit = SEEN_DGS;
			ret = get_raw(&c, &cl->dgs, &cl->dgs_len);
			break;
		case CLAIM_DOCUMENT:
			bit = SEEN_DOCUMENT;
			ret = vd_cbor_get_bstr(&c, &cl->document, &cl->document_len);
			break;
		default:
			bit = 0;
			ret = vd_cbor_skip(&c);
			break;
		}
		if (ret || (cl->seen & bit))
			return -EBADMSG;
		cl->seen |= bit;
	}
	return vd_cbor_at_end(&c) ? 0 : -EBADMSG;
}

static EVP_PKEY *p256;

static void make_p256_template(void)
{
	OSSL_PARAM params[2];
	EVP_PKEY_CTX *pctx;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
			(char *)"P-256", 0);
	params[1] = OSSL_PARAM_construct_end();
	pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!pctx || EVP_PKEY_fromdata_init(pctx) != 1 ||
			EVP_PKEY_fromdata(pctx, &p256, EVP_PKEY_KEY_PARAMETERS, params) != 1)
		p256 = NULL;
	EVP_PKEY_CTX_free(pctx);
}

/* The P-256 parameters, made once per process (never freed: one key). */
static EVP_PKEY *p256_template(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, make_p256_template);
	return p256;
}

/* cnf = {1: COSE_Key}, COSE_Key = {1: 2, -1: 1, -2: x, -3: y} → P-256 key. */
static EVP_PKEY *holder_key(const uint8_t *buf, size_t len)
{
	uint8_t point[65];
	const uint8_t *x = NULL, *y = NULL;
	size_t n, i, xl = 0, yl = 0;
	int64_t kty = 0, crv = 0;
	EVP_PKEY *key, *template;
	struct vd_cbor c;
	int64_t k;

	vd_cbor_init(&c, buf, len);
	if (vd_cbor_get_map(&c, &n) || n != 1 || vd_cbor_get_int(&c, &k) ||
			k != CNF_COSE_KEY || vd_cbor_get_map(&c, &n))
		return NULL;
	for (i = 0; i < n; i++) {
		int ret;

		if (vd_cbor_get_int(&c, &k))
			return NULL;
		switch (k) {
		case KEY_KTY:
			ret = kty ? -EBADMSG : vd_cbor_get_int(&c, &kty);
			break;
		case KEY_CRV:
			ret = crv ? -EBADMSG : vd_cbor_get_int(&c, &crv);
			break;
		case KEY_X:
			ret = x ? -EBADMSG : vd_cbor_get_bstr(&c, &x, &xl);
			break;
		case KEY_Y:
			ret = y ? -EBADMSG : vd_cbor_get_bstr(&c, &y, &yl);
			break;
		default:
			ret = vd_cbor_skip(&c);
			break;
		}
		if (ret)
			return NULL;
	}
	if (!vd_cbor_at_end(&c) || kty != KTY_EC2 || crv != CRV_P256 ||
			!x || !y || xl != 32 || yl != 32)
		return NULL;

	point[0] = 0x04;	/* uncompressed point */
	memcpy(point + 1, x, 32);
	memcpy(point + 33, y, 32);
	/* Copying the curve from a template costs a fraction of building it
	 * from its name for every token; the point decoding refuses a point
	 * that is not on the curve. */
	template = p256_template();
	key = EVP_PKEY_new();
	if (!template || !key || EVP_PKEY_copy_parameters(key, template) != 1 ||
			EVP_PKEY_set1_encoded_public_key(key, point, sizeof(point)) != 1) {
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

/*
 * kid → candidate signers → chain → inner signature.  Every certificate
 * sharing the kid is tried; the verdict of the best candidate is kept
 * (a valid chain with a bad signature says "forged").
 */
static int check_issuer(struct vd_context *ctx, const struct vd_cose_sign1 *inner,
		time_t now, struct vd_verdict *why)
{
	struct vd_trust *trust = vd_context_trust(ctx);
	X509 *signers[MAX_SIGNERS];
	bool chained = false;
	size_t n, i;

	n = vd_trust_find_signers(trust, inner->kid, signers, MAX_SIGNERS);
	if (n > MAX_SIGNERS)
		n = MAX_SIGNERS;
	if (!n) {
		vd_verdict_set(why, VD_STATUS_UNTRUSTED, "unknown issuer key identifier");
		return -EPERM;
	}
	for (i = 0; i < n; i++) {
		struct vd_verdict chain_why;
		int ret;

		if (vd_trust_check_signer(trust, signers[i], now, &chain_why)) {
			if (!chained)
				*why = chain_why;
			continue;
		}
		chained = true;
		ret = vd_cose_sign1_verify(inner, X509_get0_pubkey(signers[i]));
		if (!ret)
			return 0;
		if (ret == -ENOMEM) {
			vd_verdict_set(why, VD_STATUS_READ_FAILED, "out of memory");
			return ret;
		}
		vd_verdict_set(why, VD_STATUS_FORGED, "bad issuer signature");
	}
	return -EPERM;
}

/* iat/exp against now with the configured skew. */
static int check_times(const struct claims *cl, time_t now, unsigned int skew,
		const char *what, struct vd_verdict *why)
{
	if (cl->exp < cl->iat) {
		vd_verdict_set(why, VD_STATUS_MALFORMED, "%s expires before it is issued",
				what);
		return -EBADMSG;
	}
	if (cl->iat > (int64_t)now + skew) {
		vd_verdict_set(why, VD_STATUS_NOT_YET_VALID, "%s is not valid yet", what);
		return -EPERM;
	}
	if ((int64_t)now > cl->exp + (int64_t)skew) {
		vd_verdict_set(why, VD_STATUS_EXPIRED, "%s has expired", what);
		return -EPERM;
	}
	return 0;
}

/* {1: DG1, 2: DG2, 3: DG3, 4: DG4}, byte strings of the chip format. */
static int parse_dgs(const uint8_t *buf, size_t len, struct vd_dg_set *dgs)
{
	struct vd_cbor c;
	size_t n, i;

	memset(dgs, 0, sizeof(*dgs));
	vd_cbor_init(&c, buf, len);
	if (vd_cbor_get_map(&c, &n))
		return -EBADMSG;
	for (i = 0; i < n; i++) {
		int64_t k;

		if (vd_cbor_get_int(&c, &k) || k < 1 || k > 4 || dgs->dg[k].data ||
				vd_cbor_get_bstr(&c, &dgs->dg[k].data, &dgs->dg[k].len))
			return -EBADMSG;
		if (dgs->dg[k].len > VD_DG_MAX_SIZE)
			return -EBADMSG;
	}
	return vd_cbor_at_end(&c) ? 0 : -EBADMSG;
}

/* Steps 2 to 11 of doc/formats.md section 8.3, in that order. */
static void verify(struct vd_context *ctx, struct vd_replay *replay,
		const uint8_t *cose, size_t cose_len, time_t now,
		struct vd_read_result *out)
{
	const struct vd_settings *set = vd_context_settings(ctx);
	struct vd_verdict *why = &out->verdict;
	struct vd_cose_sign1 outer, inner;
	struct claims oc, ic;
	struct vd_dg_set dgs;
	EVP_PKEY *holder;
	int ret;

	/* Structure: anything wrong here is malformed, before any crypto. */
	if (vd_cose_sign1_parse(cose, cose_len, &outer) ||
			!outer.alg_protected || outer.alg != VD_COSE_ES256 ||
			parse_claims(outer.payload, outer.payload_len, &oc) ||
			(oc.seen & PRESENTATION_CLAIMS) != PRESENTATION_CLAIMS ||
			oc.cti_len != TOKEN_ID_LEN) {
		vd_verdict_set(why, VD_STATUS_MALFORMED, "not a token presentation");
		return;
	}
	/* alg and kid are trusted only from the signed header. */
	if (vd_cose_sign1_parse(oc.document, oc.document_len, &inner) ||
			!inner.alg_protected || !inner.kid_protected ||
			(inner.alg != VD_COSE_ES256 && inner.alg != VD_COSE_PS256) ||
			inner.kid_len != VD_KID_LEN) {
		vd_verdict_set(why, VD_STATUS_MALFORMED, "not an issuer document");
		return;
	}

	if (check_issuer(ctx, &inner, now, why))
		return;
	if (parse_claims(inner.payload, inner.payload_len, &ic) ||
			(ic.seen & DOCUMENT_CLAIMS) != DOCUMENT_CLAIMS) {
		vd_verdict_set(why, VD_STATUS_MALFORMED, "issuer document claims missing or invalid");
		return;
	}
	if (check_times(&ic, now, set->clock_skew, "issuer document", why))
		return;

	holder = holder_key(ic.cnf, ic.cnf_len);
	if (!holder) {
		vd_verdict_set(why, VD_STATUS_MALFORMED, "unusable holder key");
		return;
	}
	ret = vd_cose_sign1_verify(&outer, holder);
	EVP_PKEY_free(holder);
	if (ret) {
		vd_verdict_set(why, ret == -ENOMEM ? VD_STATUS_READ_FAILED : VD_STATUS_FORGED,
				ret == -ENOMEM ? "out of memory" : "bad holder signature");
		return;
	}
	if (check_times(&oc, now, set->clock_skew, "presentation", why))
		return;
	/* A presentation must be fresh: one made to last is as stale as an
	 * old one. */
	if (oc.exp - oc.iat > (int64_t)set->token_max_age) {
		vd_verdict_set(why, VD_STATUS_EXPIRED,
				"presentation lives longer than the %u s allowed",
				set->token_max_age);
		return;
	}

	if (parse_dgs(ic.dgs, ic.dgs_len, &dgs)) {
		vd_verdict_set(why, VD_STATUS_MALFORMED, "invalid data group map");
		return;
	}
	if (vd_record_parse_dgs(&dgs, VD_FORM_PHONE_QR, &out->record, why) ||
			vd_record_policy(ctx, &out->record, why)) {
		vd_read_result_drop_record(out);
		return;
	}
	out->marker = out->record.marker;

	memcpy(out->token_id, oc.cti, TOKEN_ID_LEN);
	out->token_id_len = TOKEN_ID_LEN;
	out->expires = (time_t)oc.exp;
	if (replay) {
		ret = vd_replay_check_and_add(replay, oc.cti, oc.cti_len, (time_t)oc.iat,
				(time_t)(oc.exp + set->clock_skew), now);
		if (ret == -EEXIST)
			vd_verdict_set(why, VD_STATUS_REPLAYED, "token already presented");
		else if (ret == -ESTALE)
			vd_verdict_set(why, VD_STATUS_REPLAYED,
					"token predates what the replay cache still remembers");
		else if (ret == -ENOSPC)
			vd_verdict_set(why, VD_STATUS_READ_FAILED,
					"replay cache full: token refused, try again shortly");
		else if (ret)
			vd_verdict_set(why, VD_STATUS_READ_FAILED,
					"replay cache cannot be written: token refused");
		if (ret) {
			vd_read_result_drop_record(out);
			return;
		}
	}
	vd_verdict_set(why, VD_STATUS_VERIFIED, "issuer and holder signatures good");
	out->has_record = true;
}

/* "VT" + version + ":": this profile in any version (formats.md 8.1) */
bool vd_token_is_vitale(const uint8_t *text, size_t len)
{
	size_t i;

	if (!text || len < 4 || text[0] != 'V' || text[1] != 'T')
		return false;
	for (i = 2; i < len && i < 2 + TOKEN_VERSION_DIGITS; i++)
		if (text[i] < '0' || text[i] > '9')
			break;
	return i > 2 && i < len && text[i] == ':';
}

void vd_token_verify(struct vd_context *ctx, struct vd_replay *replay,
		const uint8_t *text, size_t len, time_t now,
		struct vd_read_result *out)
{
	const struct vd_settings *set = vd_context_settings(ctx);
	const char *step;
	uint8_t *cose;
	size_t cose_len;

	vd_read_result_drop_record(out);
	out->form = VD_FORM_PHONE_QR;
	out->marker = VD_MARKER_PRODUCTION;
	out->token_id_len = 0;
	out->expires = 0;
	out->apdu_count = 0;
	if (len > TOKEN_TEXT_MAX && !memcmp(text, TOKEN_PREFIX, strlen(TOKEN_PREFIX))) {
		vd_verdict_set(&out->verdict, VD_STATUS_MALFORMED,
				"longer than any QR code (%zu characters)", len);
		return;
	}
	if (vd_envelope_open(text, len, TOKEN_PREFIX, set->token_max_inflated, &cose,
			&cose_len, &out->verdict, &step))
		return;
	verify(ctx, replay, cose, cose_len, now, out);
	OPENSSL_cleanse(cose, cose_len);
	free(cose);
}
