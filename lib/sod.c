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
#include <openssl/rsa.h>
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

/*
 * EF.SOD decoded without its certificates.  Decoding the embedded signer
 * certificate (its names canonicalised, its key looked for) was half of
 * the decoding cost of every chip, for a certificate the trust store
 * already holds.  These templates describe the same ContentInfo and
 * SignedData as OpenSSL's CMS ones, except that the certificates stay DER
 * (ASN1_ANY) and the SignerInfo is PKCS7_SIGNER_INFO: CMS's own with an
 * issuerAndSerialNumber sid (the form of every SOD we know).  The DER is
 * still decoded by OpenSSL; a SOD these templates do not fit goes to the
 * CMS decoder as before.
 */
typedef struct vd_sod_encap {
	ASN1_OBJECT *type;
	ASN1_OCTET_STRING *content;
} VD_SOD_ENCAP;

ASN1_SEQUENCE(VD_SOD_ENCAP) = {
	ASN1_SIMPLE(VD_SOD_ENCAP, type, ASN1_OBJECT),
	ASN1_EXP_OPT(VD_SOD_ENCAP, content, ASN1_OCTET_STRING, 0)
} static_ASN1_SEQUENCE_END(VD_SOD_ENCAP)

typedef struct vd_sod_signed {
	ASN1_INTEGER *version;
	STACK_OF(X509_ALGOR) *digest_algs;
	VD_SOD_ENCAP *encap;
	STACK_OF(ASN1_TYPE) *certs;
	STACK_OF(ASN1_TYPE) *crls;
	STACK_OF(PKCS7_SIGNER_INFO) *signers;
} VD_SOD_SIGNED;

ASN1_SEQUENCE(VD_SOD_SIGNED) = {
	ASN1_SIMPLE(VD_SOD_SIGNED, version, ASN1_INTEGER),
	ASN1_SET_OF(VD_SOD_SIGNED, digest_algs, X509_ALGOR),
	ASN1_SIMPLE(VD_SOD_SIGNED, encap, VD_SOD_ENCAP),
	ASN1_IMP_SET_OF_OPT(VD_SOD_SIGNED, certs, ASN1_ANY, 0),
	ASN1_IMP_SET_OF_OPT(VD_SOD_SIGNED, crls, ASN1_ANY, 1),
	ASN1_SET_OF(VD_SOD_SIGNED, signers, PKCS7_SIGNER_INFO)
} static_ASN1_SEQUENCE_END(VD_SOD_SIGNED)

typedef struct vd_sod_lite {
	ASN1_OBJECT *type;
	VD_SOD_SIGNED *signed_data;
} VD_SOD_LITE;

ASN1_SEQUENCE(VD_SOD_LITE) = {
	ASN1_SIMPLE(VD_SOD_LITE, type, ASN1_OBJECT),
	ASN1_EXP(VD_SOD_LITE, signed_data, VD_SOD_SIGNED, 0)
} static_ASN1_SEQUENCE_END(VD_SOD_LITE)

static void lite_free(struct vd_sod_lite *lite)
{
	ASN1_item_free((ASN1_VALUE *)lite, ASN1_ITEM_rptr(VD_SOD_LITE));
}

/* CMS decodes versions as 32-bit integers: anything it would refuse is
 * left to it. */
static bool int32_version(const ASN1_INTEGER *v)
{
	int64_t n;

	return ASN1_INTEGER_get_int64(&n, v) == 1 && n >= INT32_MIN && n <= INT32_MAX;
}

/*
 * Decoded without the certificates, when the SOD has the shape the CMS
 * decoder would take the same way: SignedData with our eContentType and
 * its content, one SignerInfo, certificates that are SEQUENCEs, no CRLs.
 * NULL otherwise (the CMS decoder then decides, with its verdicts).
 */
static struct vd_sod_lite *parse_lite(const uint8_t *der, size_t len, const ASN1_OBJECT *want)
{
	const unsigned char *p = der;
	struct vd_sod_lite *lite;
	VD_SOD_SIGNED *sd;
	int i;

	lite = (struct vd_sod_lite *)ASN1_item_d2i(NULL, &p, (long)len,
			ASN1_ITEM_rptr(VD_SOD_LITE));
	ERR_clear_error();
	if (!lite)
		return NULL;
	sd = lite->signed_data;
	if (p != der + len || OBJ_obj2nid(lite->type) != NID_pkcs7_signed || !want ||
			OBJ_cmp(sd->encap->type, want) != 0 || !sd->encap->content ||
			!int32_version(sd->version) || sd->crls ||
			sk_PKCS7_SIGNER_INFO_num(sd->signers) != 1 ||
			!int32_version(sk_PKCS7_SIGNER_INFO_value(sd->signers, 0)->version))
		goto refuse;
	for (i = 0; i < sk_ASN1_TYPE_num(sd->certs); i++)
		if (sk_ASN1_TYPE_value(sd->certs, i)->type != V_ASN1_SEQUENCE)
			goto refuse;
	return lite;
refuse:
	lite_free(lite);
	return NULL;
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

/* SHA-256/384/512 as an AlgorithmIdentifier (absent or NULL parameters). */
static int sha2_nid(const X509_ALGOR *alg)
{
	int nid = alg ? OBJ_obj2nid(alg->algorithm) : NID_undef;

	if (alg && alg->parameter && alg->parameter->type != V_ASN1_NULL)
		return NID_undef;
	return vd_digest(nid) ? nid : NID_undef;
}

/* RSASSA-PSS whose hash and MGF1 hash are both `nid` (the salt length is
 * the signer's choice; the recommended one is in doc/formats.md). */
static bool pss_with(const X509_ALGOR *sig, int nid)
{
	RSA_PSS_PARAMS *pss;
	X509_ALGOR *mgf_hash = NULL;
	bool ok = false;

	pss = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(RSA_PSS_PARAMS), sig->parameter);
	if (!pss || !pss->hashAlgorithm || !pss->maskGenAlgorithm ||
			OBJ_obj2nid(pss->maskGenAlgorithm->algorithm) != NID_mgf1)
		goto out;
	mgf_hash = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(X509_ALGOR),
			pss->maskGenAlgorithm->parameter);
	ok = sha2_nid(pss->hashAlgorithm) == nid && sha2_nid(mgf_hash) == nid;
out:
	X509_ALGOR_free(mgf_hash);
	RSA_PSS_PARAMS_free(pss);
	ERR_clear_error();
	return ok;
}

/*
 * The closed list of doc/formats.md §4, whatever else OpenSSL would
 * verify: a SHA-2 digest, and ECDSA, RSA PKCS#1 v1.5 or RSASSA-PSS with
 * that same digest.
 */
static int check_algorithms(const X509_ALGOR *dig, const X509_ALGOR *sig,
		struct vd_verdict *why)
{
	int nid = sha2_nid(dig), sig_nid, hash_nid, pkey_nid;

	if (nid == NID_undef) {
		vd_verdict_set(why, VD_STATUS_MALFORMED, "EF.SOD: digest algorithm %s not allowed",
				dig ? OBJ_nid2sn(OBJ_obj2nid(dig->algorithm)) : "missing");
		return -EBADMSG;
	}
	sig_nid = OBJ_obj2nid(sig->algorithm);
	if (sig_nid == NID_rsaEncryption || (sig_nid == NID_rsassaPss && pss_with(sig, nid)))
		return 0;
	if (OBJ_find_sigid_algs(sig_nid, &hash_nid, &pkey_nid) && hash_nid == nid &&
			(pkey_nid == NID_X9_62_id_ecPublicKey || pkey_nid == NID_rsaEncryption))
		return 0;
	vd_verdict_set(why, VD_STATUS_MALFORMED,
			"EF.SOD: signature algorithm %s with %s not allowed",
			OBJ_nid2sn(sig_nid), OBJ_nid2sn(nid));
	return -EBADMSG;
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

/* The CMS decoder's view of a SOD the templates above did not take, with
 * its checks and verdicts. */
static int open_cms(struct vd_sod *sod, const ASN1_OBJECT *want, struct vd_verdict *why,
		const ASN1_OCTET_STRING **content)
{
	STACK_OF(CMS_SignerInfo) *si;
	X509_ALGOR *dig, *sig;
	ASN1_OCTET_STRING **c;
	int i;

	sod->cms = parse_cms(sod->der, sod->der_len, keyless_ctx);
	if (!sod->cms)
		return malformed(why, "not a DER CMS ContentInfo");
	if (OBJ_obj2nid(CMS_get0_type(sod->cms)) != NID_pkcs7_signed)
		return malformed(why, "not a CMS SignedData");
	if (!want || OBJ_cmp(CMS_get0_eContentType(sod->cms), want) != 0)
		return malformed(why, "wrong eContentType");
	c = CMS_get0_content(sod->cms);
	if (!c || !*c)
		return malformed(why, "no encapsulated content");
	si = CMS_get0_SignerInfos(sod->cms);
	for (i = 0; i < sk_CMS_SignerInfo_num(si); i++) {
		CMS_SignerInfo_get0_algs(sk_CMS_SignerInfo_value(si, i), NULL, NULL, &dig, &sig);
		if (check_algorithms(dig, sig, why) < 0)
			return -EBADMSG;
	}
	*content = *c;
	return 0;
}

int vd_sod_parse(const uint8_t *file, size_t len, struct vd_sod *sod, struct vd_verdict *why)
{
	const ASN1_OCTET_STRING *content;
	const ASN1_OBJECT *want;
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
	sod->lite = parse_lite(outer.value, outer.len, want);
	if (sod->lite) {
		const PKCS7_SIGNER_INFO *si =
			sk_PKCS7_SIGNER_INFO_value(sod->lite->signed_data->signers, 0);

		r = check_algorithms(si->digest_alg, si->digest_enc_alg, why);
		if (r < 0)
			goto fail;
		content = sod->lite->signed_data->encap->content;
	} else {
		r = open_cms(sod, want, why, &content);
		if (r < 0)
			goto fail;
	}
	r = parse_econtent(ASN1_STRING_get0_data(content), ASN1_STRING_length(content), sod,
			why);
	if (r < 0)
		goto fail;
	return 0;
fail:
	vd_sod_clear(sod);
	return r;
}

void vd_sod_clear(struct vd_sod *sod)
{
	lite_free(sod->lite);
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
 * The signer certificate, which EF.SOD MUST include (doc/formats.md §4):
 * its absence is malformed, even when the trust store knows the signer.
 * The included certificate is the one verified; the trust store's copy
 * stands for it only when byte for byte the same (its key is decoded
 * already), else the included one is reparsed with its key.
 */
static int signer_cert(struct vd_sod *sod, const struct vd_trust *trust,
		STACK_OF(X509) **certs, X509 **signer, struct vd_verdict *why)
{
	CMS_SignerInfo *si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(sod->cms), 0);
	unsigned char *der = NULL;
	CMS_ContentInfo *full;
	X509 *known;
	bool same;
	int len;

	*certs = CMS_get1_certs(sod->cms);
	*signer = find_signer(si, *certs);
	if (!*signer) {
		vd_verdict_set(why, VD_STATUS_MALFORMED,
				"EF.SOD: the signer certificate is not included");
		return -EBADMSG;
	}
	known = vd_trust_signer_of(trust, si);
	len = known ? i2d_X509(*signer, &der) : -1;
	same = len > 0 && vd_trust_signer_der_equal(trust, known, der, len);
	OPENSSL_free(der);
	if (same) {
		*signer = known;
		return 0;
	}
	sk_X509_pop_free(*certs, X509_free);
	*certs = NULL;
	*signer = NULL;
	full = parse_cms(sod->der, sod->der_len, NULL);
	if (full) {
		CMS_ContentInfo_free(sod->cms);
		sod->cms = full;
		*certs = CMS_get1_certs(sod->cms);
		si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(sod->cms), 0);
		*signer = find_signer(si, *certs);
	}
	if (!*signer) {
		vd_verdict_set(why, VD_STATUS_UNTRUSTED,
				"EF.SOD: the signer certificate cannot be decoded");
		return -EPERM;
	}
	return 0;
}

/*
 * The usual EF.SOD is checked without the CMS decoder nor CMS_verify's
 * machinery (a BIO chain copying the content, a digest and a key context
 * set up from scratch for each signature).  Usual means: decoded by the
 * templates above; its one certificate byte for byte the store's signer
 * that its issuerAndSerialNumber names; an EC key; a SHA-2 digest listed
 * in digestAlgorithms and the ECDSA signature algorithm of that digest;
 * signed attributes that are exactly one contentType equal to the
 * eContentType, one messageDigest and at most one signingTime, each with
 * one value; no unsigned attributes.  On that form CMS_verify makes the
 * same checks (OpenSSL's attribute rules hold by construction):
 *   - the signer's chain (vd_trust_check_signer, as below);
 *   - the signature over the DER of the signed attributes, encoded as
 *     CMS_SignerInfo_verify encodes them (PKCS7_ATTR_VERIFY is the same
 *     SET OF template as OpenSSL's CMS_Attributes_Verify);
 *   - the eContent digest against the messageDigest attribute.
 * Any other form, and any failure but the chain's, goes to the CMS
 * decoder and CMS_verify, which decide as they always did.
 */
static const EVP_MD *usual_digest(const VD_SOD_SIGNED *sd, const PKCS7_SIGNER_INFO *si)
{
	int i, dig_nid, hash_nid, pkey_nid;
	bool listed = false;

	dig_nid = OBJ_obj2nid(si->digest_alg->algorithm);
	for (i = 0; i < sk_X509_ALGOR_num(sd->digest_algs); i++)
		if (OBJ_obj2nid(sk_X509_ALGOR_value(sd->digest_algs, i)->algorithm) == dig_nid)
			listed = true;
	if (!listed || !OBJ_find_sigid_algs(OBJ_obj2nid(si->digest_enc_alg->algorithm),
				&hash_nid, &pkey_nid) ||
			hash_nid != dig_nid || pkey_nid != NID_X9_62_id_ecPublicKey)
		return NULL;
	return vd_digest(dig_nid);
}

static bool usual_attributes(const PKCS7_SIGNER_INFO *si, const ASN1_OBJECT *econtent)
{
	unsigned int content_types = 0, digests = 0, times = 0;
	int i, n = sk_X509_ATTRIBUTE_num(si->auth_attr);

	if (n <= 0 || sk_X509_ATTRIBUTE_num(si->unauth_attr) > 0)
		return false;
	for (i = 0; i < n; i++) {
		X509_ATTRIBUTE *attr = sk_X509_ATTRIBUTE_value(si->auth_attr, i);
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

/* Both signatures of the usual form with the signer's context: true if
 * they hold. */
static bool usual_signature(const VD_SOD_SIGNED *sd, const PKCS7_SIGNER_INFO *si,
		const EVP_MD *digest, EVP_PKEY_CTX *pctx)
{
	unsigned char md[EVP_MAX_MD_SIZE], *attrs_der = NULL;
	const ASN1_OCTET_STRING *want, *content = sd->encap->content;
	unsigned int md_len = 0;
	bool ok = false;
	int len;

	len = ASN1_item_i2d((ASN1_VALUE *)si->auth_attr, &attrs_der,
			ASN1_ITEM_rptr(PKCS7_ATTR_VERIFY));
	if (len <= 0 || EVP_Digest(attrs_der, len, md, &md_len, digest, NULL) != 1 ||
			EVP_PKEY_verify(pctx, ASN1_STRING_get0_data(si->enc_digest),
				ASN1_STRING_length(si->enc_digest), md, md_len) != 1)
		goto out;
	want = X509at_get0_data_by_OBJ(si->auth_attr, OBJ_nid2obj(NID_pkcs9_messageDigest),
			-3, V_ASN1_OCTET_STRING);
	if (!want || EVP_Digest(ASN1_STRING_get0_data(content), ASN1_STRING_length(content),
				md, &md_len, digest, NULL) != 1)
		goto out;
	ok = ASN1_STRING_length(want) == (int)md_len &&
		!CRYPTO_memcmp(ASN1_STRING_get0_data(want), md, md_len);
out:
	OPENSSL_free(attrs_der);
	return ok;
}

/* 0 verified; -EPERM (why set) when the signer's chain fails; 1 for
 * anything else: the CMS path decides. */
static int verify_usual(struct vd_sod *sod, struct vd_trust *trust, time_t now,
		struct vd_verdict *why)
{
	const VD_SOD_SIGNED *sd = sod->lite->signed_data;
	const PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(sd->signers, 0);
	const ASN1_STRING *cert;
	EVP_PKEY_CTX *pctx;
	const EVP_MD *digest;
	X509 *signer;
	bool ok;

	if (sk_ASN1_TYPE_num(sd->certs) != 1)
		return 1;
	cert = sk_ASN1_TYPE_value(sd->certs, 0)->value.sequence;
	signer = vd_trust_signer_by_ias(trust, si->issuer_and_serial->issuer,
			si->issuer_and_serial->serial);
	if (!signer || !vd_trust_signer_der_equal(trust, signer, ASN1_STRING_get0_data(cert),
				ASN1_STRING_length(cert)))
		return 1;
	digest = usual_digest(sd, si);
	if (!digest || !usual_attributes(si, sd->encap->type))
		return 1;
	if (vd_trust_check_signer(trust, signer, now, why) < 0)
		return -EPERM;
	pctx = vd_trust_signer_verify_ctx(trust, signer);
	if (!pctx)
		return 1;
	ok = usual_signature(sd, si, digest, pctx);
	EVP_PKEY_CTX_free(pctx);
	ERR_clear_error();
	return ok ? 0 : 1;
}

int vd_sod_verify(struct vd_sod *sod, struct vd_trust *trust, time_t now,
		struct vd_verdict *why)
{
	STACK_OF(X509) *certs = NULL, *signer_only = NULL;
	X509 *signer;
	int r = -EPERM;

	if (sod->lite) {
		r = verify_usual(sod, trust, now, why);
		if (r <= 0)
			return r;
		r = -EPERM;
	}
	if (!sod->cms) {
		sod->cms = parse_cms(sod->der, sod->der_len, keyless_ctx);
		if (!sod->cms) {
			vd_verdict_set(why, VD_STATUS_MALFORMED,
					"EF.SOD: not a DER CMS ContentInfo");
			return -EBADMSG;
		}
	}
	if (sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(sod->cms)) != 1) {
		vd_verdict_set(why, VD_STATUS_MALFORMED, "EF.SOD: not exactly one signer");
		return -EBADMSG;
	}
	r = signer_cert(sod, trust, &certs, &signer, why);
	if (r < 0)
		goto out;
	r = -EPERM;
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
