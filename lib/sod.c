/*
 * EF.SOD: a CMS SignedData whose eContent lists the hash of every data
 * group (doc/formats.md).  Structure first (malformed), then the signer
 * chain and the CMS signature (untrusted … forged), then the hashes.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "internal.h"

#define SOD_ECONTENT_OID	"2.25.294857236452347364537892138512397"
#define SOD_VERSION		0x01
#define SOD_MAX_SIZE		VD_DG_MAX_SIZE

static pthread_once_t once = PTHREAD_ONCE_INIT;
static ASN1_OBJECT *econtent_type;
static OSSL_LIB_CTX *keyless_ctx;

/*
 * OpenSSL 3.0 decodes the public key of every certificate it parses, and
 * that costs more than an ECDSA verification.  EF.SOD is parsed in a
 * library context holding only the null provider, so the embedded signer
 * certificate comes without its key; the signature is then checked with
 * the trust store's copy of the same certificate, whose key is decoded
 * once.  Anything that would need the missing key fails closed.
 */
static void setup(void)
{
	econtent_type = OBJ_txt2obj(SOD_ECONTENT_OID, 1);
	keyless_ctx = OSSL_LIB_CTX_new();
	if (keyless_ctx && !OSSL_PROVIDER_load(keyless_ctx, "null")) {
		OSSL_LIB_CTX_free(keyless_ctx);
		keyless_ctx = NULL;
	}
}

static const ASN1_OBJECT *sod_econtent_type(void)
{
	pthread_once(&once, setup);
	return econtent_type;
}

static CMS_ContentInfo *parse_cms(const uint8_t *der, size_t len, OSSL_LIB_CTX *libctx)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms;

	cms = (CMS_ContentInfo *)ASN1_item_d2i_ex(NULL, &p, (long)len,
			ASN1_ITEM_rptr(CMS_ContentInfo), libctx, NULL);
	if (cms && p != der + len) {
		CMS_ContentInfo_free(cms);
		cms = NULL;
	}
	ERR_clear_error();
	return cms;
}

static int malformed(struct vd_verdict *why, const char *what)
{
	vd_verdict_set(why, VD_STATUS_MALFORMED, "EF.SOD: %s", what);
	return -EBADMSG;
}

/* Hash algorithm from the DER contents of its OID (SHA-2 family only). */
static const EVP_MD *hash_from_oid(const uint8_t *oid, size_t len)
{
	unsigned char der[2 + 32];
	const unsigned char *p = der;
	ASN1_OBJECT *obj;
	int nid;

	if (len == 0 || len > sizeof(der) - 2)
		return NULL;
	der[0] = 0x06;
	der[1] = (unsigned char)len;
	memcpy(der + 2, oid, len);
	obj = d2i_ASN1_OBJECT(NULL, &p, (long)(len + 2));
	if (!obj)
		return NULL;
	nid = p == der + len + 2 ? OBJ_obj2nid(obj) : NID_undef;
	ASN1_OBJECT_free(obj);
	switch (nid) {
	case NID_sha256:
		return EVP_sha256();
	case NID_sha384:
		return EVP_sha384();
	case NID_sha512:
		return EVP_sha512();
	}
	return NULL;
}

static bool ignorable(uint32_t tag)
{
	return (tag >= 0x90 && tag <= 0x9e) || (tag >= 0xb0 && tag <= 0xbe);
}

/* A0 { 80 DG number, 81 hash } */
static int parse_entry(const struct vd_tlv *entry, struct vd_sod *sod, struct vd_verdict *why)
{
	const struct vd_tlv *num = NULL, *hash = NULL;
	struct vd_tlv_iter it;
	struct vd_tlv t[2];
	struct vd_tlv cur;
	unsigned int n = 0;
	int r;

	vd_tlv_iter_init(&it, entry->value, entry->len);
	while ((r = vd_tlv_next(&it, &cur)) == 1) {
		if (ignorable(cur.tag))
			continue;
		if ((cur.tag != 0x80 && cur.tag != 0x81) || n == 2)
			return malformed(why, "unexpected tag in a hash entry");
		t[n] = cur;
		if (cur.tag == 0x80) {
			if (num)
				return malformed(why, "duplicate DG number");
			num = &t[n];
		} else {
			if (hash)
				return malformed(why, "duplicate hash");
			hash = &t[n];
		}
		n++;
	}
	if (r < 0 || !num || !hash)
		return malformed(why, "incomplete hash entry");
	if (num->len != 1 || num->value[0] == 0 || num->value[0] >= VD_DG_MAX)
		return malformed(why, "bad DG number");
	if (sod->dg[num->value[0]].listed)
		return malformed(why, "data group listed twice");
	if (hash->len != sod->hash_len)
		return malformed(why, "hash length does not match the algorithm");
	sod->dg[num->value[0]].listed = true;
	memcpy(sod->dg[num->value[0]].hash, hash->value, hash->len);
	return 0;
}

/* 70 { 80 version, 06 hash OID, A0 ... } */
static int parse_econtent(const uint8_t *buf, size_t len, struct vd_sod *sod,
		struct vd_verdict *why)
{
	bool have_version = false;
	struct vd_tlv_iter it;
	struct vd_tlv top, t;
	int r;

	if (vd_tlv_check_tree(buf, len, VD_TLV_MAX_DEPTH) < 0 ||
			vd_tlv_parse_one(buf, len, &top) < 0 || top.tag != 0x70)
		return malformed(why, "eContent is not a hash list");
	vd_tlv_iter_init(&it, top.value, top.len);
	while ((r = vd_tlv_next(&it, &t)) == 1) {
		if (ignorable(t.tag))
			continue;
		switch (t.tag) {
		case 0x80:
			if (have_version || t.len != 1 || t.value[0] != SOD_VERSION)
				return malformed(why, "unsupported hash list version");
			have_version = true;
			break;
		case 0x06:
			if (sod->md)
				return malformed(why, "two hash algorithms");
			sod->md = hash_from_oid(t.value, t.len);
			if (!sod->md)
				return malformed(why, "unsupported hash algorithm");
			sod->hash_len = EVP_MD_get_size(sod->md);
			break;
		case 0xa0:
			/* the algorithm comes first: entries are sized by it */
			if (!sod->md)
				return malformed(why, "hash entry before the algorithm");
			r = parse_entry(&t, sod, why);
			if (r < 0)
				return r;
			break;
		default:
			return malformed(why, "unknown critical tag in the hash list");
		}
	}
	if (r < 0)
		return malformed(why, "broken hash list");
	if (!have_version || !sod->md)
		return malformed(why, "hash list without version or algorithm");
	/* A chip's SOD always covers these (tokens carry no SOD). */
	if (!sod->dg[1].listed || !sod->dg[2].listed || !sod->dg[15].listed)
		return malformed(why, "DG1, DG2 or DG15 not listed");
	return 0;
}

int vd_sod_parse(const uint8_t *file, size_t len, struct vd_sod *sod, struct vd_verdict *why)
{
	const ASN1_OBJECT *want;
	ASN1_OCTET_STRING **content;
	struct vd_tlv outer;
	int r;

	memset(sod, 0, sizeof(*sod));
	if (!file)
		return malformed(why, "missing");
	if (len > SOD_MAX_SIZE)
		return malformed(why, "file too large");
	/* The value is DER for OpenSSL: only the outer TLV is ours. */
	if (vd_tlv_parse_one(file, len, &outer) < 0 || outer.tag != 0x77)
		return malformed(why, "not an EF.SOD");
	want = sod_econtent_type();
	sod->der = outer.value;
	sod->der_len = outer.len;
	sod->cms = parse_cms(outer.value, outer.len, keyless_ctx);
	if (!sod->cms) {
		r = malformed(why, "not a DER CMS ContentInfo");
		goto fail;
	}
	if (OBJ_obj2nid(CMS_get0_type(sod->cms)) != NID_pkcs7_signed) {
		r = malformed(why, "not a CMS SignedData");
		goto fail;
	}
	if (!want || OBJ_cmp(CMS_get0_eContentType(sod->cms), want) != 0) {
		r = malformed(why, "wrong eContentType");
		goto fail;
	}
	content = CMS_get0_content(sod->cms);
	if (!content || !*content) {
		r = malformed(why, "no encapsulated content");
		goto fail;
	}
	r = parse_econtent(ASN1_STRING_get0_data(*content), ASN1_STRING_length(*content),
			sod, why);
	if (r < 0)
		goto fail;
	return 0;
fail:
	vd_sod_clear(sod);
	return r;
}

void vd_sod_clear(struct vd_sod *sod)
{
	CMS_ContentInfo_free(sod->cms);
	OPENSSL_cleanse(sod, sizeof(*sod));
}

static X509 *find_signer(CMS_SignerInfo *si, STACK_OF(X509) *certs)
{
	int i;

	for (i = 0; i < sk_X509_num(certs); i++)
		if (CMS_SignerInfo_cert_cmp(si, sk_X509_value(certs, i)) == 0)
			return sk_X509_value(certs, i);
	return NULL;
}

/*
 * The signer certificate: the trust store's copy when it has the one the
 * SignerInfo names (its key is ready; the signature must verify under the
 * trusted key whatever the document carries), else the embedded one,
 * reparsed with its key.
 */
static X509 *signer_cert(struct vd_sod *sod, const struct vd_trust *trust,
		STACK_OF(X509) **certs)
{
	CMS_SignerInfo *si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(sod->cms), 0);
	CMS_ContentInfo *full;
	X509 *known;

	known = vd_trust_signer_of(trust, si);
	if (known)
		return known;
	full = parse_cms(sod->der, sod->der_len, NULL);
	if (!full)
		return NULL;
	CMS_ContentInfo_free(sod->cms);
	sod->cms = full;
	*certs = CMS_get1_certs(sod->cms);
	si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(sod->cms), 0);
	return find_signer(si, *certs);
}

int vd_sod_verify(struct vd_sod *sod, struct vd_trust *trust, time_t now,
		struct vd_verdict *why)
{
	STACK_OF(X509) *certs = NULL, *signer_only = NULL;
	X509 *signer;
	int r = -EPERM;

	if (sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(sod->cms)) != 1) {
		vd_verdict_set(why, VD_STATUS_MALFORMED, "EF.SOD: not exactly one signer");
		return -EBADMSG;
	}
	signer = signer_cert(sod, trust, &certs);
	if (!signer) {
		vd_verdict_set(why, VD_STATUS_UNTRUSTED,
				"EF.SOD: the signer certificate is neither included nor known");
		goto out;
	}
	/* The chain is validated here, with a cache, at `now`; CMS_verify
	 * then checks only the signature over the content. */
	if (vd_trust_check_signer(trust, signer, now, why) < 0)
		goto out;
	signer_only = sk_X509_new_null();
	if (!signer_only || !sk_X509_push(signer_only, signer)) {
		vd_verdict_set(why, VD_STATUS_FORGED, "EF.SOD: out of memory");
		goto out;
	}
	ERR_clear_error();
	if (CMS_verify(sod->cms, signer_only, vd_trust_store(trust), NULL, NULL,
				CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
		ERR_clear_error();
		vd_verdict_set(why, VD_STATUS_FORGED, "EF.SOD: CMS signature does not verify");
		goto out;
	}
	r = 0;
out:
	sk_X509_free(signer_only);
	sk_X509_pop_free(certs, X509_free);
	return r;
}

int vd_sod_check_dgs(const struct vd_sod *sod, const struct vd_dg_set *dgs,
		struct vd_verdict *why)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int n, md_len;

	for (n = 1; n < VD_DG_MAX; n++) {
		if (!sod->dg[n].listed)
			continue;
		if (!dgs->dg[n].data ||
				EVP_Digest(dgs->dg[n].data, dgs->dg[n].len, md, &md_len, sod->md,
					NULL) != 1 ||
				md_len != sod->hash_len ||
				CRYPTO_memcmp(md, sod->dg[n].hash, md_len)) {
			vd_verdict_set(why, VD_STATUS_FORGED,
					"DG%u does not match its hash in EF.SOD", n);
			return -EPERM;
		}
	}
	return 0;
}
