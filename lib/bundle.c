/*
 * Trust bundles (doc/formats.md section 14): the whole trust set in one
 * CMS SignedData of our own content type, signed by a trust-list signer
 * that chains to a pinned trust-list root.  The eContent is a DER
 * TrustBundle (OpenSSL ASN.1 templates: nothing decoded by hand).
 *
 * This file checks what a bundle says about itself (signature, chain,
 * structure, member hashes) and, separately, whether it may replace the
 * installed one (version, expiry, issue time): the daemon, vitalectl and
 * the builder all go through here.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/asn1t.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "internal.h"

#define MAX_ROOT_FILE	(256 * 1024)
#define MAX_ROOTS	64

typedef struct {
	ASN1_UTF8STRING *name;
	ASN1_OCTET_STRING *sha256;
	ASN1_OCTET_STRING *content;
} VD_BUNDLE_MEMBER;

DEFINE_STACK_OF(VD_BUNDLE_MEMBER)

typedef struct {
	ASN1_INTEGER *format;
	ASN1_INTEGER *version;
	ASN1_GENERALIZEDTIME *issued;
	ASN1_GENERALIZEDTIME *expires;
	STACK_OF(VD_BUNDLE_MEMBER) *members;
} VD_BUNDLE_MANIFEST;

ASN1_SEQUENCE(VD_BUNDLE_MEMBER) = {
	ASN1_SIMPLE(VD_BUNDLE_MEMBER, name, ASN1_UTF8STRING),
	ASN1_SIMPLE(VD_BUNDLE_MEMBER, sha256, ASN1_OCTET_STRING),
	ASN1_SIMPLE(VD_BUNDLE_MEMBER, content, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END(VD_BUNDLE_MEMBER)

ASN1_SEQUENCE(VD_BUNDLE_MANIFEST) = {
	ASN1_SIMPLE(VD_BUNDLE_MANIFEST, format, ASN1_INTEGER),
	ASN1_SIMPLE(VD_BUNDLE_MANIFEST, version, ASN1_INTEGER),
	ASN1_SIMPLE(VD_BUNDLE_MANIFEST, issued, ASN1_GENERALIZEDTIME),
	ASN1_SIMPLE(VD_BUNDLE_MANIFEST, expires, ASN1_GENERALIZEDTIME),
	ASN1_SEQUENCE_OF(VD_BUNDLE_MANIFEST, members, VD_BUNDLE_MEMBER),
} static_ASN1_SEQUENCE_END(VD_BUNDLE_MANIFEST)

DECLARE_ASN1_ALLOC_FUNCTIONS_name_attr(static, VD_BUNDLE_MEMBER, VD_BUNDLE_MEMBER)
DECLARE_ASN1_FUNCTIONS_attr(static, VD_BUNDLE_MANIFEST)
IMPLEMENT_STATIC_ASN1_ALLOC_FUNCTIONS(VD_BUNDLE_MEMBER)
IMPLEMENT_STATIC_ASN1_ALLOC_FUNCTIONS(VD_BUNDLE_MANIFEST)
IMPLEMENT_STATIC_ASN1_ENCODE_FUNCTIONS(VD_BUNDLE_MANIFEST)

struct vd_bundle {
	VD_BUNDLE_MANIFEST *manifest;
	uint64_t version;
	time_t issued;
	time_t expires;
	size_t n_members;
	struct vd_bundle_member *members;
	char signer[128];	/* subject of the trust-list signer */
};

static int fail(char *why, size_t why_len, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *why, size_t why_len, int err, const char *fmt, ...)
{
	va_list ap;

	if (why && why_len) {
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	ERR_clear_error();
	return err;
}

/* doc/formats.md 14.2: a plain file name the trust loader knows. */
static bool member_name_ok(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > VD_BUNDLE_MAX_NAME || name[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				(c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	if (len == strlen("opposition.txt") && !memcmp(name, "opposition.txt", len))
		return true;
	return len > 4 && (!memcmp(name + len - 4, ".pem", 4) ||
			!memcmp(name + len - 4, ".crl", 4));
}

static int gtime(const ASN1_GENERALIZEDTIME *at, time_t *out)
{
	struct tm tm;
	int n = at ? at->length : 0;

	/* UTC only, seconds precision: YYYYMMDDHHMMSSZ (DER). */
	if (n != 15 || at->data[14] != 'Z' || ASN1_TIME_to_tm(at, &tm) != 1)
		return -EBADMSG;
	*out = timegm(&tm);
	return 0;
}

static void bundle_free_members(struct vd_bundle *b)
{
	size_t i;

	for (i = 0; i < b->n_members; i++)
		free((char *)b->members[i].name);
	free(b->members);
	b->members = NULL;
	b->n_members = 0;
}

void vd_bundle_free(struct vd_bundle *b)
{
	if (!b)
		return;
	bundle_free_members(b);
	VD_BUNDLE_MANIFEST_free(b->manifest);
	free(b);
}

int vd_bundle_decode_manifest(const uint8_t *der, size_t len, struct vd_bundle **out,
		char *why, size_t why_len)
{
	const unsigned char *p = der;
	struct vd_bundle *b;
	VD_BUNDLE_MANIFEST *m;
	uint64_t format;
	int i, n, err;

	*out = NULL;
	if (len > VD_BUNDLE_MAX_SIZE || len > LONG_MAX)
		return fail(why, why_len, -EBADMSG, "manifest too large");
	m = d2i_VD_BUNDLE_MANIFEST(NULL, &p, (long)len);
	if (!m || p != der + len) {
		VD_BUNDLE_MANIFEST_free(m);
		return fail(why, why_len, -EBADMSG, "the signed content is not a trust bundle manifest");
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		VD_BUNDLE_MANIFEST_free(m);
		return fail(why, why_len, -ENOMEM, "out of memory");
	}
	b->manifest = m;
	if (ASN1_INTEGER_get_uint64(&format, m->format) != 1 || format != 1) {
		err = fail(why, why_len, -EBADMSG, "unsupported bundle format version");
		goto bad;
	}
	if (ASN1_INTEGER_get_uint64(&b->version, m->version) != 1 || b->version == 0) {
		err = fail(why, why_len, -EBADMSG, "bundle version is not an integer from 1 to 2^64-1");
		goto bad;
	}
	if (gtime(m->issued, &b->issued) < 0 || gtime(m->expires, &b->expires) < 0 ||
			b->issued >= b->expires) {
		err = fail(why, why_len, -EBADMSG,
				"issue and expiry times are not UTC or expiry is not after issue");
		goto bad;
	}
	n = sk_VD_BUNDLE_MEMBER_num(m->members);
	if (n <= 0 || (unsigned int)n > VD_BUNDLE_MAX_MEMBERS) {
		err = fail(why, why_len, -EBADMSG, "a bundle holds 1 to %u members, not %d",
				VD_BUNDLE_MAX_MEMBERS, n);
		goto bad;
	}
	b->members = calloc((size_t)n, sizeof(*b->members));
	if (!b->members) {
		err = fail(why, why_len, -ENOMEM, "out of memory");
		goto bad;
	}
	for (i = 0; i < n; i++) {
		VD_BUNDLE_MEMBER *mm = sk_VD_BUNDLE_MEMBER_value(m->members, i);
		struct vd_bundle_member *bm = &b->members[i];
		uint8_t md[EVP_MAX_MD_SIZE];
		unsigned int md_len = 0;
		char *name;

		if (!member_name_ok((const char *)mm->name->data, (size_t)mm->name->length)) {
			err = fail(why, why_len, -EBADMSG, "member %d: invalid name", i + 1);
			goto bad;
		}
		name = strndup((const char *)mm->name->data, (size_t)mm->name->length);
		if (!name) {
			err = fail(why, why_len, -ENOMEM, "out of memory");
			goto bad;
		}
		bm->name = name;
		b->n_members++;
		/* Ascending order: no duplicates, one encoding per set. */
		if (i > 0 && strcmp(b->members[i - 1].name, name) >= 0) {
			err = fail(why, why_len, -EBADMSG,
					"member %s: names not in strictly ascending order", name);
			goto bad;
		}
		if ((size_t)mm->content->length > VD_BUNDLE_MAX_MEMBER) {
			err = fail(why, why_len, -EBADMSG, "member %s: larger than %u bytes", name,
					VD_BUNDLE_MAX_MEMBER);
			goto bad;
		}
		if (mm->sha256->length != 32) {
			err = fail(why, why_len, -EBADMSG, "member %s: hash is not SHA-256", name);
			goto bad;
		}
		if (EVP_Digest(mm->content->data, (size_t)mm->content->length, md, &md_len,
					vd_digest(NID_sha256), NULL) != 1 || md_len != 32) {
			err = fail(why, why_len, -ENOMEM, "member %s: cannot hash", name);
			goto bad;
		}
		if (CRYPTO_memcmp(md, mm->sha256->data, 32)) {
			err = fail(why, why_len, -EBADMSG,
					"member %s: content does not match its hash", name);
			goto bad;
		}
		bm->data = mm->content->data;
		bm->len = (size_t)mm->content->length;
		memcpy(bm->sha256, md, 32);
	}
	*out = b;
	return 0;
bad:
	vd_bundle_free(b);
	return err;
}

static bool root_ok(X509 *cert)
{
	EVP_PKEY *key = X509_get0_pubkey(cert);

	return X509_check_issued(cert, cert) == X509_V_OK && X509_check_ca(cert) > 0 &&
		key && X509_verify(cert, key) == 1;
}

static int skip_hidden(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 4 && !strcmp(d->d_name + n - 4, ".pem");
}

/* One PEM file of roots (bounded); the count added, or -errno. */
static int add_roots(X509_STORE *store, int dfd, const char *name, unsigned int *n_roots)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	X509 *cert;
	BIO *bio;
	int added = 0, err;

	err = vd_read_regular(dfd, name, MAX_ROOT_FILE, &buf, &len);
	if (err < 0)
		return err;
	bio = BIO_new_mem_buf(buf, (int)len);
	while (bio && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (*n_roots < MAX_ROOTS && root_ok(cert) &&
				X509_STORE_add_cert(store, cert) == 1) {
			(*n_roots)++;
			added++;
		}
		X509_free(cert);
	}
	BIO_free(bio);
	free(buf);
	ERR_clear_error();
	return added ? added : -ENOENT;
}

int vd_bundle_roots_load(const char *dir, X509_STORE **out, unsigned int *n_roots)
{
	struct dirent **names = NULL;
	X509_STORE *store;
	int dfd, n, i;

	*out = NULL;
	*n_roots = 0;
	store = X509_STORE_new();
	if (!store)
		return -ENOMEM;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	n = dfd >= 0 ? scandirat(dfd, ".", &names, skip_hidden, alphasort) : -1;
	for (i = 0; i < n; i++) {
		/* A file that holds no usable root adds nothing; the others stay. */
		add_roots(store, dfd, names[i]->d_name, n_roots);
		free(names[i]);
	}
	free(names);
	if (dfd >= 0)
		close(dfd);
	*out = store;
	return 0;
}

static const char *ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "unknown reason";
}

int vd_bundle_parse(const uint8_t *der, size_t len, X509_STORE *roots, time_t now,
		struct vd_bundle **out, char *why, size_t why_len)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509) *signers = NULL;
	ASN1_OBJECT *want = NULL;
	X509_VERIFY_PARAM *param;
	BIO *content = NULL;
	const uint8_t *data;
	long data_len;
	int err;

	*out = NULL;
	ERR_clear_error();
	if (len == 0 || len > VD_BUNDLE_MAX_SIZE)
		return fail(why, why_len, -EBADMSG, "a bundle is 1 to %u bytes, not %zu",
				VD_BUNDLE_MAX_SIZE, len);
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	if (!cms || p != der + len) {
		err = fail(why, why_len, -EBADMSG,
				"not a DER CMS structure (damaged or truncated file)");
		goto out;
	}
	want = OBJ_txt2obj(VD_BUNDLE_CONTENT_TYPE, 1);
	if (!want) {
		err = fail(why, why_len, -ENOMEM, "out of memory");
		goto out;
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed ||
			OBJ_cmp(CMS_get0_eContentType(cms), want) != 0) {
		err = fail(why, why_len, -EBADMSG, "not a SignedData of the trust bundle content type");
		goto out;
	}
	sis = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(sis) != 1) {
		err = fail(why, why_len, -EBADMSG, "a bundle has exactly one signer, not %d",
				sk_CMS_SignerInfo_num(sis));
		goto out;
	}
	param = X509_STORE_get0_param(roots);
	if (now) {
		X509_VERIFY_PARAM_clear_flags(param, X509_V_FLAG_NO_CHECK_TIME);
		X509_VERIFY_PARAM_set_time(param, now);
	} else {
		X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_NO_CHECK_TIME);
	}
	content = BIO_new(BIO_s_mem());
	if (!content) {
		err = fail(why, why_len, -ENOMEM, "out of memory");
		goto out;
	}
	if (CMS_verify(cms, NULL, roots, NULL, content, CMS_BINARY) != 1) {
		err = fail(why, why_len, -EKEYREJECTED,
				"signature not accepted: %s (the signer must chain to a "
				"trust-list root in the pinned directory)", ssl_reason());
		goto out;
	}
	data_len = BIO_get_mem_data(content, (char **)&data);
	err = vd_bundle_decode_manifest(data, data_len > 0 ? (size_t)data_len : 0, out,
			why, why_len);
	if (!err) {
		signers = CMS_get0_signers(cms);
		if (sk_X509_num(signers) == 1)
			X509_NAME_oneline(X509_get_subject_name(sk_X509_value(signers, 0)),
					(*out)->signer, sizeof((*out)->signer));
	}
out:
	sk_X509_free(signers);
	BIO_free(content);
	ASN1_OBJECT_free(want);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return err;
}

int vd_bundle_check(const struct vd_bundle *b, uint64_t installed, time_t now,
		unsigned int clock_skew, char *why, size_t why_len)
{
	if (b->expires <= now)
		return fail(why, why_len, -EKEYEXPIRED, "bundle version %llu expired",
				(unsigned long long)b->version);
	if (b->issued > now + (time_t)clock_skew)
		return fail(why, why_len, -ETIME,
				"bundle version %llu is issued in the future (beyond the %u s clock "
				"skew): check the clock", (unsigned long long)b->version, clock_skew);
	if (b->version < installed)
		return fail(why, why_len, -ERANGE,
				"bundle version %llu is older than the installed version %llu "
				"(rollback refused)", (unsigned long long)b->version,
				(unsigned long long)installed);
	if (b->version == installed)
		return fail(why, why_len, 1, "bundle version %llu is already installed",
				(unsigned long long)b->version);
	return 0;
}

uint64_t vd_bundle_version(const struct vd_bundle *b)
{
	return b->version;
}

time_t vd_bundle_issued(const struct vd_bundle *b)
{
	return b->issued;
}

time_t vd_bundle_expires(const struct vd_bundle *b)
{
	return b->expires;
}

const char *vd_bundle_signer(const struct vd_bundle *b)
{
	return b->signer;
}

size_t vd_bundle_n_members(const struct vd_bundle *b)
{
	return b->n_members;
}

const struct vd_bundle_member *vd_bundle_member(const struct vd_bundle *b, size_t i)
{
	return i < b->n_members ? &b->members[i] : NULL;
}

/* ---- building (vitaled-trust-bundle) ---------------------------------- */

static int manifest_encode(uint64_t version, time_t issued, time_t expires,
		const struct vd_bundle_member *members, size_t n, uint8_t **out, int *out_len)
{
	VD_BUNDLE_MANIFEST *m = VD_BUNDLE_MANIFEST_new();
	size_t i;
	int err = -ENOMEM;

	*out = NULL;
	if (!m || !ASN1_INTEGER_set_uint64(m->format, 1) ||
			!ASN1_INTEGER_set_uint64(m->version, version) ||
			!ASN1_GENERALIZEDTIME_set(m->issued, issued) ||
			!ASN1_GENERALIZEDTIME_set(m->expires, expires))
		goto out;
	for (i = 0; i < n; i++) {
		VD_BUNDLE_MEMBER *mm = VD_BUNDLE_MEMBER_new();
		uint8_t md[EVP_MAX_MD_SIZE];
		unsigned int md_len = 0;

		if (!mm)
			goto out;
		if (!sk_VD_BUNDLE_MEMBER_push(m->members, mm)) {
			VD_BUNDLE_MEMBER_free(mm);
			goto out;
		}
		if (members[i].len > INT_MAX ||
				!ASN1_STRING_set(mm->name, members[i].name, -1) ||
				!ASN1_OCTET_STRING_set(mm->content, members[i].data,
					(int)members[i].len) ||
				EVP_Digest(members[i].data, members[i].len, md, &md_len,
					vd_digest(NID_sha256), NULL) != 1 ||
				!ASN1_OCTET_STRING_set(mm->sha256, md, (int)md_len))
			goto out;
	}
	*out_len = i2d_VD_BUNDLE_MANIFEST(m, out);
	err = *out_len > 0 ? 0 : -ENOMEM;
out:
	VD_BUNDLE_MANIFEST_free(m);
	return err;
}

int vd_bundle_build(uint64_t version, time_t issued, time_t expires,
		const struct vd_bundle_member *members, size_t n,
		X509 *signer, EVP_PKEY *key, STACK_OF(X509) *chain,
		uint8_t **out, size_t *out_len, char *why, size_t why_len)
{
	CMS_ContentInfo *cms = NULL;
	ASN1_OBJECT *type = NULL;
	uint8_t *manifest = NULL;
	unsigned char *der = NULL;
	struct vd_bundle *check = NULL;
	int manifest_len = 0, der_len, err;
	BIO *in = NULL;

	*out = NULL;
	err = manifest_encode(version, issued, expires, members, n, &manifest, &manifest_len);
	if (err < 0)
		return fail(why, why_len, err, "cannot encode the manifest");
	/* What we write must be what a reader accepts. */
	err = vd_bundle_decode_manifest(manifest, (size_t)manifest_len, &check, why, why_len);
	vd_bundle_free(check);
	if (err < 0)
		goto out;
	err = -EINVAL;
	type = OBJ_txt2obj(VD_BUNDLE_CONTENT_TYPE, 1);
	in = BIO_new_mem_buf(manifest, manifest_len);
	cms = type && in ? CMS_sign(signer, key, chain, NULL,
			CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP) : NULL;
	if (!cms || CMS_set1_eContentType(cms, type) != 1 ||
			CMS_final(cms, in, NULL, CMS_BINARY) != 1) {
		err = fail(why, why_len, -EINVAL, "cannot sign: %s", ssl_reason());
		goto out;
	}
	der_len = i2d_CMS_ContentInfo(cms, &der);
	if (der_len <= 0 || (size_t)der_len > VD_BUNDLE_MAX_SIZE) {
		err = fail(why, why_len, -EFBIG, "the bundle would exceed %u bytes",
				VD_BUNDLE_MAX_SIZE);
		goto out;
	}
	*out = malloc((size_t)der_len);
	if (!*out) {
		err = fail(why, why_len, -ENOMEM, "out of memory");
		goto out;
	}
	memcpy(*out, der, (size_t)der_len);
	*out_len = (size_t)der_len;
	err = 0;
out:
	OPENSSL_free(der);
	OPENSSL_free(manifest);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	ASN1_OBJECT_free(type);
	ERR_clear_error();
	return err;
}
