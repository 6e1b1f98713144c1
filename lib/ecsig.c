/*
 * ECDSA verification of raw r‖s signatures (COSE ES256, chip INTERNAL
 * AUTHENTICATE).  OpenSSL wants DER, so the halves go through ECDSA_SIG.
 */
#include <errno.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "internal.h"

#define MAX_HALF	66	/* P-521 */

int vd_ecdsa_verify_raw(EVP_PKEY *key, const EVP_MD *md, const uint8_t *msg,
		size_t msg_len, const uint8_t *sig, size_t sig_len)
{
	ECDSA_SIG *esig = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *der = NULL;
	int der_len, half, ret = -EINVAL;

	if (!key || !md || !sig || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
		return -EINVAL;
	half = (EVP_PKEY_get_bits(key) + 7) / 8;
	if (half <= 0 || half > MAX_HALF)
		return -EINVAL;
	/* A raw signature has exactly two halves of the field size. */
	if (sig_len != 2 * (size_t)half)
		return -EBADMSG;

	r = BN_bin2bn(sig, half, NULL);
	s = BN_bin2bn(sig + half, half, NULL);
	esig = ECDSA_SIG_new();
	if (!r || !s || !esig)
		goto out;
	if (!ECDSA_SIG_set0(esig, r, s))
		goto out;
	r = s = NULL;	/* owned by esig now */
	der_len = i2d_ECDSA_SIG(esig, &der);
	if (der_len <= 0)
		goto out;

	/* Hash, then verify the digest: what `openssl speed` measures, without
	 * EVP_DigestVerifyInit's per-call fetching.  No signature md is set on
	 * the context: it would only check the digest length (ours, just made)
	 * at the price of one more fetch. */
	if (EVP_Digest(msg, msg_len, digest, &digest_len, md, NULL) != 1)
		goto out;
	pctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	if (!pctx || EVP_PKEY_verify_init(pctx) != 1)
		goto out;
	ret = EVP_PKEY_verify(pctx, der, der_len, digest, digest_len) == 1 ? 0 : -EBADMSG;
out:
	EVP_PKEY_CTX_free(pctx);
	OPENSSL_free(der);
	ECDSA_SIG_free(esig);
	BN_free(r);
	BN_free(s);
	return ret;
}
