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
#include <openssl/pkcs7.h>
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

/* Hash algorithm from the DER contents of its OID (SHA-2 family only),
 * compared with OpenSSL's own encoding of each. */
static const EVP_MD *hash_from_oid(const uint8_t *oid, size_t len)
{
	static const int nids[] = { NID_sha256, NID_sha384, NID_sha512 };
	unsigned int i;

	for (i = 0; i < sizeof(nids) / sizeof(nids[0]); i++) {
		const ASN1_OBJECT *obj = OBJ_nid2obj(nids[i]);

		if (obj && OBJ_length(obj) == len && !memcmp(OBJ_get0_data(obj), oid, len))
			return vd_digest(nids[i]);
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

/*
 * The usual EF.SOD is checked without CMS_verify's machinery (a BIO chain
 * copying the content, and a digest and a key context set up from scratch
 * for each signature).  Usual means: a store signer with an EC key, a
 * SHA-2 digest and the ECDSA signature algorithm of that digest, signed
 * attributes that are exactly one contentType equal to the eContentType,
 * one messageDigest and at most one signingTime, each with one value, and
 * no unsigned attributes.  On that form CMS_verify would make the same
 * two checks (OpenSSL's attribute rules hold by construction):
 *   - the signature over the DER of the signed attributes, encoded as
 *     CMS_SignerInfo_verify encodes them (PKCS7_ATTR_VERIFY is the same
 *     SET OF template as OpenSSL's CMS_Attributes_Verify);
 *   - the eContent digest against the messageDigest attribute.
 * (CMS_verify also wants the signer's digest in the SignedData's
 * digestAlgorithms, an unsigned hint for one-pass hashing that the CMS API
 * does not expose; it is not looked at here.)  Any other form goes to
 * CMS_verify, which decides as it always did.
 */
static const EVP_MD *usual_digest(CMS_SignerInfo *si)
{
	X509_ALGOR *dig_alg = NULL, *sig_alg = NULL;
	const ASN1_OBJECT *dig_oid, *sig_oid;
	int dig_nid, hash_nid, pkey_nid;

	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig_alg, &sig_alg);
	if (!dig_alg || !sig_alg)
		return NULL;
	X509_ALGOR_get0(&dig_oid, NULL, NULL, dig_alg);
	X509_ALGOR_get0(&sig_oid, NULL, NULL, sig_alg);
	dig_nid = OBJ_obj2nid(dig_oid);
	if (!OBJ_find_sigid_algs(OBJ_obj2nid(sig_oid), &hash_nid, &pkey_nid) ||
			hash_nid != dig_nid || pkey_nid != NID_X9_62_id_ecPublicKey)
		return NULL;
	return vd_digest(dig_nid);
}

static bool usual_attributes(CMS_SignerInfo *si, const ASN1_OBJECT *econtent)
{
	unsigned int content_types = 0, digests = 0, times = 0;
	int i, n = CMS_signed_get_attr_count(si);

	if (n <= 0 || CMS_unsigned_get_attr_count(si) > 0)
		return false;
	for (i = 0; i < n; i++) {
		X509_ATTRIBUTE *attr = CMS_signed_get_attr(si, i);
		ASN1_TYPE *value = X509_ATTRIBUTE_get0_type(attr, 0);

		if (X509_ATTRIBUTE_count(attr) != 1 || !value)
			return false;
		switch (OBJ_obj2nid(X509_ATTRIBUTE_get0_object(attr))) {
		case NID_pkcs9_contentType:
			if (value->type != V_ASN1_OBJECT ||
					OBJ_cmp(value->value.object, econtent) != 0)
				return false;
			content_types++;
			break;
		case NID_pkcs9_messageDigest:
			digests++;
			break;
		case NID_pkcs9_signingTime:
			times++;
			break;
		default:
			return false;
		}
	}
	return content_types == 1 && digests == 1 && times <= 1;
}

/* 1 verified, 0 not, -1 not the usual form (CMS_verify decides). */
static int verify_usual(struct vd_sod *sod, CMS_SignerInfo *si, const struct vd_trust *trust,
		X509 *signer)
{
	unsigned char md[EVP_MAX_MD_SIZE], *attrs_der = NULL;
	unsigned int md_len = 0;
	STACK_OF(X509_ATTRIBUTE) *attrs = NULL;
	ASN1_OCTET_STRING **content, *sig, *want;
	EVP_PKEY_CTX *pctx;
	const EVP_MD *digest;
	int i, len, ok = 0;

	digest = usual_digest(si);
	if (!digest || !usual_attributes(si, CMS_get0_eContentType(sod->cms)))
		return -1;
	pctx = vd_trust_signer_verify_ctx(trust, signer);
	if (!pctx)
		return -1;

	/* the signed attributes' signature */
	attrs = sk_X509_ATTRIBUTE_new_null();
	for (i = 0; attrs && i < CMS_signed_get_attr_count(si); i++)
		if (!sk_X509_ATTRIBUTE_push(attrs, CMS_signed_get_attr(si, i)))
			goto out;
	len = attrs ? ASN1_item_i2d((ASN1_VALUE *)attrs, &attrs_der,
			ASN1_ITEM_rptr(PKCS7_ATTR_VERIFY)) : -1;
	sig = CMS_SignerInfo_get0_signature(si);
	if (len <= 0 || !sig || EVP_Digest(attrs_der, len, md, &md_len, digest, NULL) != 1 ||
			EVP_PKEY_verify(pctx, ASN1_STRING_get0_data(sig), ASN1_STRING_length(sig),
				md, md_len) != 1)
		goto out;

	/* the content's digest */
	want = CMS_signed_get0_data_by_OBJ(si, OBJ_nid2obj(NID_pkcs9_messageDigest), -3,
			V_ASN1_OCTET_STRING);
	content = CMS_get0_content(sod->cms);
	if (!want || !content || !*content ||
			EVP_Digest(ASN1_STRING_get0_data(*content), ASN1_STRING_length(*content),
				md, &md_len, digest, NULL) != 1)
		goto out;
	ok = ASN1_STRING_length(want) == (int)md_len &&
		!CRYPTO_memcmp(ASN1_STRING_get0_data(want), md, md_len);
out:
	OPENSSL_free(attrs_der);
	sk_X509_ATTRIBUTE_free(attrs);	/* the attributes are the SignerInfo's */
	EVP_PKEY_CTX_free(pctx);
	return ok;
}

int vd_sod_verify(struct vd_sod *sod, struct vd_trust *trust, time_t now,
		struct vd_verdict *why)
{
	STACK_OF(X509) *certs = NULL, *signer_only = NULL;
	X509 *signer;
	int r = -EPERM, ok;

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
	/* The chain is validated here, with a cache, at `now`; then only the
	 * signature over the content is left to check. */
	if (vd_trust_check_signer(trust, signer, now, why) < 0)
		goto out;
	ERR_clear_error();
	ok = verify_usual(sod, sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(sod->cms), 0),
			trust, signer);
	if (ok < 0) {
		signer_only = sk_X509_new_null();
		if (!signer_only || !sk_X509_push(signer_only, signer)) {
			vd_verdict_set(why, VD_STATUS_FORGED, "EF.SOD: out of memory");
			goto out;
		}
		ok = CMS_verify(sod->cms, signer_only, vd_trust_store(trust), NULL, NULL,
				CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY);
	}
	ERR_clear_error();
	if (ok != 1) {
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
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();	/* one for all: set up once */
	int r = 0;

	for (n = 1; n < VD_DG_MAX && r == 0; n++) {
		if (!sod->dg[n].listed)
			continue;
		if (!mctx || !dgs->dg[n].data ||
				EVP_DigestInit_ex(mctx, sod->md, NULL) != 1 ||
				EVP_DigestUpdate(mctx, dgs->dg[n].data, dgs->dg[n].len) != 1 ||
				EVP_DigestFinal_ex(mctx, md, &md_len) != 1 ||
				md_len != sod->hash_len ||
				CRYPTO_memcmp(md, sod->dg[n].hash, md_len)) {
			vd_verdict_set(why, VD_STATUS_FORGED,
					"DG%u does not match its hash in EF.SOD", n);
			r = -EPERM;
		}
	}
	EVP_MD_CTX_free(mctx);
	return r;
}
