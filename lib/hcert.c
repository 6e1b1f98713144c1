/*
 * Plain HCERT ("HC1:") envelope verification against one given signer
 * certificate at one given instant.  This exists so that our envelope
 * code (base45, zlib, COSE, ES256/PS256) can be checked against the
 * public EU DCC test vectors; the payload is not ours and only its
 * times (CWT iat/exp) are read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "internal.h"

#define CWT_EXP		4
#define CWT_IAT		6

/* iat and exp of a CWT claims map; other claims are skipped. */
static int cwt_times(const uint8_t *buf, size_t len, int64_t *iat, int64_t *exp)
{
	bool have_iat = false, have_exp = false;
	struct vd_cbor c;
	size_t n, i;

	vd_cbor_init(&c, buf, len);
	if (vd_cbor_get_map(&c, &n))
		return -EBADMSG;
	for (i = 0; i < n; i++) {
		int64_t key;

		if (vd_cbor_get_int(&c, &key)) {
			if (vd_cbor_skip(&c) || vd_cbor_skip(&c))
				return -EBADMSG;
			continue;
		}
		if (key == CWT_IAT && !have_iat) {
			if (vd_cbor_get_time(&c, iat))
				return -EBADMSG;
			have_iat = true;
		} else if (key == CWT_EXP && !have_exp) {
			if (vd_cbor_get_time(&c, exp))
				return -EBADMSG;
			have_exp = true;
		} else if (key == CWT_IAT || key == CWT_EXP || vd_cbor_skip(&c)) {
			return -EBADMSG;
		}
	}
	return have_iat && have_exp && vd_cbor_at_end(&c) ? 0 : -EBADMSG;
}

const char *vd_hcert_verify(X509 *signer, const uint8_t *text, size_t len,
		time_t at, size_t max_inflated, struct vd_verdict *out)
{
	uint8_t kid[VD_KID_LEN];
	struct vd_cose_sign1 msg;
	const char *step = NULL;
	int64_t iat, exp;
	uint8_t *cose;
	size_t cose_len;
	int ret, nb, na;

	if (vd_envelope_open(text, len, "HC1:", max_inflated, &cose, &cose_len,
			out, &step))
		return step;
	if (vd_cose_sign1_parse(cose, cose_len, &msg)) {
		step = "cose";
		vd_verdict_set(out, VD_STATUS_MALFORMED, "not a COSE_Sign1 message");
		goto out;
	}
	step = "verify";
	if (vd_cert_kid(signer, kid)) {
		vd_verdict_set(out, VD_STATUS_MALFORMED, "unusable certificate");
		goto out;
	}
	if (!msg.kid || msg.kid_len != VD_KID_LEN || memcmp(msg.kid, kid, VD_KID_LEN)) {
		vd_verdict_set(out, VD_STATUS_UNTRUSTED,
				"key identifier does not match the certificate");
		goto out;
	}
	ret = vd_cose_sign1_verify(&msg, X509_get0_pubkey(signer));
	if (ret == -EBADMSG) {
		vd_verdict_set(out, VD_STATUS_FORGED, "bad signature");
		goto out;
	} else if (ret) {
		vd_verdict_set(out, VD_STATUS_MALFORMED,
				"algorithm missing, unsupported or not that of the key");
		goto out;
	}
	step = "expiration";
	if (cwt_times(msg.payload, msg.payload_len, &iat, &exp)) {
		vd_verdict_set(out, VD_STATUS_MALFORMED, "no valid iat/exp claims");
		goto out;
	}
	/* cert notBefore <= iat <= at <= exp <= cert notAfter */
	nb = ASN1_TIME_cmp_time_t(X509_get0_notBefore(signer), (time_t)iat);
	na = ASN1_TIME_cmp_time_t(X509_get0_notAfter(signer), (time_t)exp);
	if (at < iat || nb == 1 || nb == -2) {
		vd_verdict_set(out, VD_STATUS_NOT_YET_VALID,
				at < iat ? "issued after the validation time" :
				"issued before its signer certificate was valid");
		goto out;
	}
	if (at > exp || na < 0) {
		vd_verdict_set(out, VD_STATUS_EXPIRED,
				at > exp ? "expired at the validation time" :
				"outlives its signer certificate");
		goto out;
	}
	step = NULL;
	vd_verdict_set(out, VD_STATUS_VERIFIED, "signature and validity period good");
out:
	/* a health certificate: names and birth date */
	OPENSSL_cleanse(cose, cose_len);
	free(cose);
	return step;
}
