/*
 * Trust bundles (lib/bundle.c, doc/formats.md section 14): build and read
 * back with keys made here, every refusal of the manifest rules on the
 * corpus seeds of tests/fuzz/corpus/bundle, and the version/time policy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "tap.h"

#define NOW	1790000000	/* 2026-09-21 */

static uint8_t *slurp(const char *name, size_t *len)
{
	const char *top = getenv("top_srcdir");
	char path[1024];
	uint8_t *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/bundle/%s", top ? top : ".", name);
	f = fopen(path, "rb");
	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) ||
			!(buf = malloc((size_t)n)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(EXIT_FAILURE);
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* A self-signed CA (a trust-list root that signs bundles itself). */
static X509 *make_root(EVP_PKEY *key, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	ASN1_TIME_set(X509_getm_notBefore(x), NOW - 86400);
	ASN1_TIME_set(X509_getm_notAfter(x), NOW + 86400L * 3650);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn,
			-1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, name);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage,
			"critical,keyCertSign,cRLSign,digitalSignature");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	X509_sign(x, key, EVP_sha256());
	X509_NAME_free(name);
	return x;
}

static void test_round_trip(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
	X509 *root = make_root(key, "trust list root"), *stranger = make_root(other, "other");
	X509_STORE *roots = X509_STORE_new(), *none = X509_STORE_new();
	static const char opposed[] = "VTX0001\nVTX0002\n";
	const struct vd_bundle_member members[] = {
		{ .name = "opposition.txt", .data = (const uint8_t *)opposed,
		  .len = sizeof(opposed) - 1 },
		{ .name = "root.pem", .data = (const uint8_t *)"pem", .len = 3 },
	};
	const struct vd_bundle_member unsorted[] = { members[1], members[0] };
	struct vd_bundle *b = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	char why[256];
	int err;

	X509_STORE_add_cert(roots, root);
	err = vd_bundle_build(7, NOW - 60, NOW + 86400, members, 2, root, key, NULL, &der, &len,
			why, sizeof(why));
	tap_is(err, 0, "build a bundle of two members");
	err = vd_bundle_parse(der, len, roots, NOW, &b, why, sizeof(why));
	tap_is(err, 0, "it verifies against its root (%s)", err ? why : "ok");
	if (!err) {
		tap_is(vd_bundle_version(b), 7, "version 7");
		tap_is(vd_bundle_issued(b), NOW - 60, "issue time");
		tap_is(vd_bundle_expires(b), NOW + 86400, "expiry");
		tap_is(vd_bundle_n_members(b), 2, "two members");
		tap_ok(!strcmp(vd_bundle_member(b, 0)->name, "opposition.txt") &&
		       vd_bundle_member(b, 0)->len == sizeof(opposed) - 1 &&
		       !memcmp(vd_bundle_member(b, 0)->data, opposed, sizeof(opposed) - 1),
		       "the opposition list comes back byte for byte");
		tap_ok(strstr(vd_bundle_signer(b), "trust list root") != NULL, "signer named");
		tap_is(vd_bundle_check(b, 0, NOW, 30, why, sizeof(why)), 0, "newer: install");
		tap_is(vd_bundle_check(b, 7, NOW, 30, why, sizeof(why)), 1, "same version: no-op");
		tap_is(vd_bundle_check(b, 8, NOW, 30, why, sizeof(why)), -ERANGE, "older: rollback");
		tap_is(vd_bundle_check(b, 0, NOW + 86400, 30, why, sizeof(why)), -EKEYEXPIRED,
		       "at its expiry: expired");
		tap_is(vd_bundle_check(b, 0, NOW - 91, 30, why, sizeof(why)), -ETIME,
		       "issued beyond the clock skew in the future: refused");
		tap_is(vd_bundle_check(b, 0, NOW - 89, 30, why, sizeof(why)), 0,
		       "issued within the clock skew: accepted");
	}
	vd_bundle_free(b);
	b = NULL;
	tap_is(vd_bundle_parse(der, len, none, NOW, &b, why, sizeof(why)), -EKEYREJECTED,
	       "no pinned root: signature refused");
	tap_is(vd_bundle_parse(der, len - 1, roots, NOW, &b, why, sizeof(why)), -EBADMSG,
	       "one byte short: refused as damaged");
	tap_is(vd_bundle_parse(der, len, roots, NOW + 86400L * 4000, &b, why, sizeof(why)),
	       -EKEYREJECTED, "signer certificate expired at that time: refused");
	free(der);
	der = NULL;
	err = vd_bundle_build(8, NOW - 60, NOW + 86400, members, 2, stranger, other, NULL, &der,
			&len, why, sizeof(why));
	tap_is(vd_bundle_parse(der, len, roots, NOW, &b, why, sizeof(why)), -EKEYREJECTED,
	       "signed under another root: refused");
	free(der);
	der = NULL;
	tap_is(vd_bundle_build(9, NOW, NOW + 60, unsorted, 2, root, key, NULL, &der, &len, why,
			sizeof(why)), -EBADMSG, "the builder refuses members out of order");
	free(der);
	X509_STORE_free(roots);
	X509_STORE_free(none);
	X509_free(root);
	X509_free(stranger);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

static void expect_manifest(const char *seed, int want, const char *words)
{
	struct vd_bundle *b = NULL;
	char why[256] = "";
	size_t len;
	uint8_t *der = slurp(seed, &len);
	int err = vd_bundle_decode_manifest(der, len, &b, why, sizeof(why));

	tap_ok(err == want && (!words || strstr(why, words)), "%s: %d (%s)", seed, err, why);
	vd_bundle_free(b);
	free(der);
}

static void no_report(const char *path, const char *why, void *user_data)
{
	(*(int *)user_data)++;
	printf("# %s: %s\n", path, why);
}

/* The largest opposition list a bundle carries (bench/bench-bundle.py):
 * 100,000 serials of 13 characters, 1.4 MB, all loaded. */
static void test_largest_opposition(void)
{
	char dir[] = "/tmp/vitaled-test-bundle-XXXXXX", path[64];
	struct vd_trust_info info;
	struct vd_trust *trust = NULL;
	int reports = 0, i;
	FILE *f;

	if (!mkdtemp(dir)) {
		tap_ok(0, "temporary directory");
		return;
	}
	snprintf(path, sizeof(path), "%s/opposition.txt", dir);
	f = fopen(path, "w");
	for (i = 0; f && i < 100000; i++)
		fprintf(f, "VTD%010d\n", i);
	if (f)
		fclose(f);
	tap_is(vd_trust_load(dir, no_report, &reports, &trust), 0, "load 100,000 serials");
	vd_trust_get_info(trust, &info);
	tap_ok(info.n_opposed == 100000 && reports == 0, "all 100,000 opposed serials in force, "
	       "nothing refused (%u, %d reports)", info.n_opposed, reports);
	vd_trust_unref(trust);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	test_round_trip();
	test_largest_opposition();
	expect_manifest("manifest-2-members.der", 0, NULL);
	expect_manifest("manifest-bad-hash.der", -EBADMSG,
			"b.pem: content does not match its hash");
	expect_manifest("manifest-unsorted.der", -EBADMSG, "not in strictly ascending order");
	expect_manifest("manifest-bad-name.der", -EBADMSG, "invalid name");
	expect_manifest("bundle-signed.der", -EBADMSG, "not a trust bundle manifest");
	return tap_done();
}
