/* COSE_Sign1 parsing and ES256/PS256 verification with keys made here. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "internal.h"
#include "tap.h"

struct buf {
	uint8_t d[4096];
	size_t n;
};

static void put(struct buf *b, const void *p, size_t len)
{
	if (b->n + len > sizeof(b->d))
		abort();
	memcpy(b->d + b->n, p, len);
	b->n += len;
}

static void put_byte(struct buf *b, uint8_t v)
{
	put(b, &v, 1);
}

/* bstr head for lengths < 65536 */
static void put_bstr(struct buf *b, const void *p, size_t len)
{
	if (len < 24) {
		put_byte(b, 0x40 | (uint8_t)len);
	} else if (len < 256) {
		put_byte(b, 0x58);
		put_byte(b, (uint8_t)len);
	} else {
		put_byte(b, 0x59);
		put_byte(b, (uint8_t)(len >> 8));
		put_byte(b, (uint8_t)len);
	}
	put(b, p, len);
}

static const uint8_t payload[] = "{\"claims\": \"here\"}";

/* Sig_structure, written independently of cose.c */
static void tbs_of(struct buf *tbs, const struct buf *prot)
{
	tbs->n = 0;
	put_byte(tbs, 0x84);
	put_byte(tbs, 0x6a);
	put(tbs, "Signature1", 10);
	put_bstr(tbs, prot->d, prot->n);
	put_byte(tbs, 0x40);
	put_bstr(tbs, payload, sizeof(payload));
}

static size_t sign(EVP_PKEY *key, int64_t alg, const struct buf *prot, uint8_t *sig,
		int salt)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t der[600];
	size_t der_len = sizeof(der);
	EVP_PKEY_CTX *pctx;
	struct buf tbs;

	tbs_of(&tbs, prot);
	if (EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, key) != 1)
		abort();
	if (alg == VD_COSE_PS256 &&
			(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
			 EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt) != 1))
		abort();
	if (EVP_DigestSign(md, der, &der_len, tbs.d, tbs.n) != 1)
		abort();
	EVP_MD_CTX_free(md);
	if (alg == VD_COSE_PS256) {
		memcpy(sig, der, der_len);
		return der_len;
	} else {
		const uint8_t *p = der;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);

		BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32);
		BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32);
		ECDSA_SIG_free(es);
		return 64;
	}
}

/* tag prefix + [protected, unprotected, payload, signature] */
static void message(struct buf *m, const char *tags, size_t tags_len,
		const struct buf *prot, const void *unprot, size_t unprot_len,
		const uint8_t *sig, size_t sig_len)
{
	m->n = 0;
	put(m, tags, tags_len);
	put_byte(m, 0x84);
	put_bstr(m, prot->d, prot->n);
	put(m, unprot, unprot_len);
	put_bstr(m, payload, sizeof(payload));
	put_bstr(m, sig, sig_len);
}

static int parse_verify(const struct buf *m, EVP_PKEY *key)
{
	struct vd_cose_sign1 msg;

	if (vd_cose_sign1_parse(m->d, m->n, &msg))
		return -EPROTO;
	return vd_cose_sign1_verify(&msg, key);
}

static void header(struct buf *h, const void *p, size_t len)
{
	h->n = 0;
	put(h, p, len);
}

int main(void)
{
	static const uint8_t es256_hdr[] = { 0xa1, 0x01, 0x26 };
	static const uint8_t ps256_hdr[] = { 0xa1, 0x01, 0x38, 0x24 };
	static const uint8_t kid_hdr[] = { 0xa2, 0x01, 0x26, 0x04, 0x42, 'k', '1' };
	static const uint8_t ukid[] = { 0xa1, 0x04, 0x42, 'u', '1' };
	static const uint8_t ualg[] = { 0xa1, 0x01, 0x26 };
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	struct vd_cose_sign1 msg;
	struct buf prot, m, empty = { .n = 0 };
	uint8_t sig[600];
	size_t sig_len;

	if (!ec || !rsa || !ec384)
		return 99;

	/* ES256 */
	header(&prot, es256_hdr, sizeof(es256_hdr));
	sig_len = sign(ec, VD_COSE_ES256, &prot, sig, 0);
	message(&m, "\xd2", 1, &prot, "\xa0", 1, sig, sig_len);
	tap_is(parse_verify(&m, ec), 0, "ES256, tag 18");
	message(&m, "", 0, &prot, "\xa0", 1, sig, sig_len);
	tap_is(parse_verify(&m, ec), 0, "ES256, untagged");
	message(&m, "\xd8\x3d\xd2", 3, &prot, "\xa0", 1, sig, sig_len);
	tap_is(parse_verify(&m, ec), 0, "ES256, tagged 61 then 18 (CWT)");
	message(&m, "\xd1", 1, &prot, "\xa0", 1, sig, sig_len);
	tap_is(parse_verify(&m, ec), -EPROTO, "tag 17 (COSE_Mac0) refused");
	message(&m, "\xd2\xd2", 2, &prot, "\xa0", 1, sig, sig_len);
	tap_is(parse_verify(&m, ec), -EPROTO, "tag 18 twice refused");
	sig[10] ^= 1;
	message(&m, "\xd2", 1, &prot, "\xa0", 1, sig, sig_len);
	tap_is(parse_verify(&m, ec), -EBADMSG, "ES256 bad signature");
	sig[10] ^= 1;
	message(&m, "\xd2", 1, &prot, "\xa0", 1, sig, 63);
	tap_is(parse_verify(&m, ec), -EBADMSG, "ES256 signature of 63 bytes");
	memset(sig + 64, 0x30, 8);
	message(&m, "\xd2", 1, &prot, "\xa0", 1, sig, 72);
	tap_is(parse_verify(&m, ec), -EBADMSG, "ES256 signature longer than 64 bytes");
	message(&m, "\xd2", 1, &prot, "\xa0", 1, sig, sig_len);
	m.d[m.n - sig_len - 3] ^= 1;	/* inside the payload */
	tap_is(parse_verify(&m, ec), -EBADMSG, "ES256 payload changed");
	message(&m, "\xd2", 1, &prot, "\xa0", 1, sig, sig_len);
	tap_is(parse_verify(&m, rsa), -EINVAL, "ES256 with an RSA key refused");
	tap_is(parse_verify(&m, ec384), -EINVAL, "ES256 with a P-384 key refused");

	/* PS256 */
	header(&prot, ps256_hdr, sizeof(ps256_hdr));
	sig_len = sign(rsa, VD_COSE_PS256, &prot, sig, 32);
	message(&m, "\xd2", 1, &prot, "\xa0", 1, sig, sig_len);
	tap_is(parse_verify(&m, rsa), 0, "PS256 salt 32");
	tap_is(parse_verify(&m, ec), -EINVAL, "PS256 with an EC key refused");
	sig[5] ^= 1;
	message(&m, "\xd2", 1, &prot, "\xa0", 1, sig, sig_len);
	tap_is(parse_verify(&m, rsa), -EBADMSG, "PS256 bad signature");
	sig_len = sign(rsa, VD_COSE_PS256, &prot, sig, 20);
	message(&m, "\xd2", 1, &prot, "\xa0", 1, sig, sig_len);
	tap_is(parse_verify(&m, rsa), -EBADMSG, "PS256 with salt 20 refused");

	/* algorithms and headers */
	header(&prot, "\xa1\x01\x27", 3);	/* EdDSA */
	message(&m, "", 0, &prot, "\xa0", 1, sig, 64);
	tap_is(parse_verify(&m, ec), -EINVAL, "unsupported algorithm");
	message(&m, "", 0, &empty, "\xa0", 1, sig, 64);
	tap_is(parse_verify(&m, ec), -EINVAL, "no algorithm");
	message(&m, "", 0, &empty, ualg, sizeof(ualg), sig, 64);
	tap_ok(!vd_cose_sign1_parse(m.d, m.n, &msg) && msg.alg == VD_COSE_ES256 &&
			!msg.alg_protected, "unprotected alg used only when none is protected");
	header(&prot, kid_hdr, sizeof(kid_hdr));
	message(&m, "", 0, &prot, ukid, sizeof(ukid), sig, 64);
	tap_ok(!vd_cose_sign1_parse(m.d, m.n, &msg) && msg.kid_len == 2 &&
			!memcmp(msg.kid, "k1", 2) && msg.alg_protected && msg.kid_protected,
			"protected kid wins over the unprotected one");
	header(&prot, es256_hdr, sizeof(es256_hdr));
	message(&m, "", 0, &prot, ukid, sizeof(ukid), sig, 64);
	tap_ok(!vd_cose_sign1_parse(m.d, m.n, &msg) && msg.kid_len == 2 &&
			!memcmp(msg.kid, "u1", 2) && !msg.kid_protected,
			"unprotected kid as a fallback");
	header(&prot, "\xa2\x01\x26\x01\x26", 5);
	message(&m, "", 0, &prot, "\xa0", 1, sig, 64);
	tap_is(vd_cose_sign1_parse(m.d, m.n, &msg), -EBADMSG, "alg given twice");
	header(&prot, "\xa1\x01\x26\x00", 4);
	message(&m, "", 0, &prot, "\xa0", 1, sig, 64);
	tap_is(vd_cose_sign1_parse(m.d, m.n, &msg), -EBADMSG,
			"bytes after the protected map");
	header(&prot, "\xa1\x04\x01", 3);
	message(&m, "", 0, &prot, "\xa0", 1, sig, 64);
	tap_is(vd_cose_sign1_parse(m.d, m.n, &msg), -EBADMSG, "kid that is not a bstr");

	/* structure */
	header(&prot, es256_hdr, sizeof(es256_hdr));
	message(&m, "", 0, &prot, "\xa0", 1, sig, 64);
	m.d[0] = 0x83;
	tap_is(vd_cose_sign1_parse(m.d, m.n, &msg), -EBADMSG, "array of 3");
	message(&m, "", 0, &prot, "\xa0", 1, sig, 64);
	put_byte(&m, 0);
	tap_is(vd_cose_sign1_parse(m.d, m.n, &msg), -EBADMSG, "bytes after the message");
	tap_is(vd_cose_sign1_parse(m.d, 10, &msg), -EBADMSG, "truncated message");
	m.n = 0;
	put(&m, "\x84\x43\xa1\x01\x26\xa0\xf6\x40", 8);
	tap_is(vd_cose_sign1_parse(m.d, m.n, &msg), -EBADMSG, "detached (nil) payload");
	m.n = 0;
	put(&m, "\x84\xa1\x01\x26\xa0\x40\x40", 7);
	tap_is(vd_cose_sign1_parse(m.d, m.n, &msg), -EBADMSG, "protected header not a bstr");

	EVP_PKEY_free(ec);
	EVP_PKEY_free(ec384);
	EVP_PKEY_free(rsa);
	return tap_done();
}
