/*
 * COSE_Sign1 (RFC 9052 §4.2) as used by HCERT and by our QR tokens:
 * parse the four-element array, and verify its signature over the
 * Sig_structure with ES256 (raw r‖s) or PS256 (RSASSA-PSS, SHA-256,
 * MGF1-SHA-256, salt 32).  The crypto is OpenSSL's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "internal.h"

#define CBOR_TAG_COSE_SIGN1	18
#define CBOR_TAG_CWT		61
#define HDR_ALG			1
#define HDR_CRIT		2
#define HDR_KID			4
#define PSS_SALT_LEN		32

/*
 * A header map: alg and kid, anything else skipped.  A repeated alg or
 * kid is refused: two readers of the same header must not disagree.
 * crit names labels a reader must understand, and we understand none
 * beyond these two: refused (RFC 9052 §3.1, doc/formats.md §8.2).
 */
static int parse_header(struct vd_cbor *c, int64_t *alg, const uint8_t **kid,
		size_t *kid_len)
{
	bool have_alg = false, have_kid = false;
	size_t n, i;

	if (vd_cbor_get_map(c, &n))
		return -EBADMSG;
	for (i = 0; i < n; i++) {
		int64_t key;

		if (vd_cbor_peek(c) != VD_CBOR_UINT && vd_cbor_peek(c) != VD_CBOR_NEGINT) {
			if (vd_cbor_skip(c) || vd_cbor_skip(c))
				return -EBADMSG;
			continue;
		}
		if (vd_cbor_get_int(c, &key))
			return -EBADMSG;
		if (key == HDR_ALG) {
			if (have_alg || vd_cbor_get_int(c, alg))
				return -EBADMSG;
			have_alg = true;
		} else if (key == HDR_KID) {
			if (have_kid || vd_cbor_get_bstr(c, kid, kid_len))
				return -EBADMSG;
			have_kid = true;
		} else if (key == HDR_CRIT || vd_cbor_skip(c)) {
			return -EBADMSG;
		}
	}
	return 0;
}

int vd_cose_sign1_parse(const uint8_t *buf, size_t len, struct vd_cose_sign1 *out)
{
	const uint8_t *ukid = NULL;
	size_t n, ukid_len = 0;
	struct vd_cbor c, hdr;
	int64_t ualg = 0;
	int major;

	memset(out, 0, sizeof(*out));
	vd_cbor_init(&c, buf, len);

	/* Optional CWT tag, then optional COSE_Sign1 tag (in that order, as
	 * RFC 8392 §6 nests them); no other tag is a COSE_Sign1. */
	major = vd_cbor_peek(&c);
	if (major == VD_CBOR_TAG) {
		uint64_t tag;

		if (vd_cbor_get_tag(&c, &tag))
			return -EBADMSG;
		if (tag == CBOR_TAG_CWT && vd_cbor_peek(&c) == VD_CBOR_TAG &&
				vd_cbor_get_tag(&c, &tag))
			return -EBADMSG;
		if (tag != CBOR_TAG_COSE_SIGN1 && tag != CBOR_TAG_CWT)
			return -EBADMSG;
	}
	if (vd_cbor_get_array(&c, &n) || n != 4)
		return -EBADMSG;

	if (vd_cbor_get_bstr(&c, &out->protected_hdr, &out->protected_len))
		return -EBADMSG;
	/* A zero-length protected bstr means an empty header (§3). */
	if (out->protected_len) {
		vd_cbor_init(&hdr, out->protected_hdr, out->protected_len);
		if (parse_header(&hdr, &out->alg, &out->kid, &out->kid_len) ||
				!vd_cbor_at_end(&hdr))
			return -EBADMSG;
	}
	out->alg_protected = out->alg != 0;
	out->kid_protected = out->kid != NULL;
	/* Unprotected values are not signed: they count only when the
	 * protected header has none (real HCERTs do that).  For alg this is
	 * safe because verification also requires the algorithm to be the
	 * only one the key type allows; for kid, a wrong one just fails. */
	if (parse_header(&c, &ualg, &ukid, &ukid_len))
		return -EBADMSG;
	if (!out->alg)
		out->alg = ualg;
	if (!out->kid && ukid) {
		out->kid = ukid;
		out->kid_len = ukid_len;
	}
	/* A detached payload (nil) is not used by HCERT nor by us. */
	if (vd_cbor_get_bstr(&c, &out->payload, &out->payload_len) ||
			vd_cbor_get_bstr(&c, &out->signature, &out->signature_len) ||
			!vd_cbor_at_end(&c))
		return -EBADMSG;
	return 0;
}

static uint8_t *put_head(uint8_t *p, unsigned int major, uint64_t arg)
{
	unsigned int n, i;

	if (arg < 24) {
		*p++ = (uint8_t)(major << 5 | arg);
		return p;
	}
	n = arg <= 0xFF ? 1 : arg <= 0xFFFF ? 2 : arg <= 0xFFFFFFFF ? 4 : 8;
	*p++ = (uint8_t)(major << 5 | (n == 1 ? 24 : n == 2 ? 25 : n == 4 ? 26 : 27));
	for (i = n; i > 0; i--)
		*p++ = (uint8_t)(arg >> (8 * (i - 1)));
	return p;
}

/* ["Signature1", protected, h'', payload] in a new buffer. */
static uint8_t *sig_structure(const struct vd_cose_sign1 *msg, size_t *len)
{
	static const char context[] = "Signature1";
	uint8_t *buf, *p;

	buf = malloc(1 + 1 + sizeof(context) + 9 + msg->protected_len + 1 +
			9 + msg->payload_len);
	if (!buf)
		return NULL;
	p = put_head(buf, VD_CBOR_ARRAY, 4);
	p = put_head(p, VD_CBOR_TSTR, sizeof(context) - 1);
	memcpy(p, context, sizeof(context) - 1);
	p += sizeof(context) - 1;
	p = put_head(p, VD_CBOR_BSTR, msg->protected_len);
	if (msg->protected_len)
		memcpy(p, msg->protected_hdr, msg->protected_len);
	p += msg->protected_len;
	p = put_head(p, VD_CBOR_BSTR, 0);
	p = put_head(p, VD_CBOR_BSTR, msg->payload_len);
	if (msg->payload_len)
		memcpy(p, msg->payload, msg->payload_len);
	p += msg->payload_len;
	*len = (size_t)(p - buf);
	return buf;
}

static int verify_ps256(EVP_PKEY *key, const uint8_t *tbs, size_t tbs_len,
		const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx;
	int ret = -EINVAL;

	if (!md)
		return -ENOMEM;
	if (EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, key) != 1 ||
			EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
			EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, PSS_SALT_LEN) != 1 ||
			EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1)
		goto out;
	ret = EVP_DigestVerify(md, sig, sig_len, tbs, tbs_len) == 1 ? 0 : -EBADMSG;
out:
	EVP_MD_CTX_free(md);
	return ret;
}

/* The algorithm must match the key, else a key could be abused with an
 * algorithm it was never meant for (the HCERT "wrong algorithm" case). */
static bool key_fits(int64_t alg, EVP_PKEY *key)
{
	char group[32];

	switch (alg) {
	case VD_COSE_ES256:
		return EVP_PKEY_is_a(key, "EC") &&
			EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) == 1 &&
			!strcmp(group, "prime256v1");
	case VD_COSE_PS256:
		return EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "RSA-PSS");
	default:
		return false;
	}
}

int vd_cose_sign1_verify(const struct vd_cose_sign1 *msg, EVP_PKEY *key)
{
	uint8_t *tbs;
	size_t tbs_len;
	int ret;

	if (!key || !key_fits(msg->alg, key))
		return -EINVAL;
	tbs = sig_structure(msg, &tbs_len);
	if (!tbs)
		return -ENOMEM;
	if (msg->alg == VD_COSE_ES256)
		/* RFC 9053 §2.1: exactly 2 × 32 bytes, r then s. */
		ret = msg->signature_len != 64 ? -EBADMSG :
			vd_ecdsa_verify_raw(key, EVP_sha256(), tbs, tbs_len,
					msg->signature, msg->signature_len);
	else
		ret = verify_ps256(key, tbs, tbs_len, msg->signature,
				msg->signature_len);
	/* it holds a copy of the payload: personal data */
	OPENSSL_cleanse(tbs, tbs_len);
	free(tbs);
	return ret;
}
