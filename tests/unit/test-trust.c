/*
 * Trust store (lib/trust.c) with the real test PKI: counts, kid lookup,
 * chain verdicts at chosen times, the validated-chain cache, and bad files
 * reported by name without taking the rest down.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>

#include "chipimg.h"
#include "tap.h"

struct reports {
	unsigned int n;
	char seen[2048];
};

static void report(const char *path, const char *why, void *user_data)
{
	struct reports *r = user_data;
	const char *base = strrchr(path, '/');

	printf("# reported: %s: %s\n", path, why);
	r->n++;
	/* " name1 name2 ": every name between spaces */
	if (!r->seen[0])
		strcpy(r->seen, " ");
	strncat(r->seen, base ? base + 1 : path, sizeof(r->seen) - strlen(r->seen) - 2);
	strncat(r->seen, " ", sizeof(r->seen) - strlen(r->seen) - 1);
}

static X509 *load_cert(const char *name)
{
	char path[PATH_MAX + 64];
	X509 *cert;
	FILE *f;

	snprintf(path, sizeof(path), "%s/private/%s.pem", chipimg_pki(), name);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return cert;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void test_good_store(struct vd_trust *trust)
{
	static const struct {
		const char *name;
		enum vd_status want;
	} signers[] = {
		{ "ds-es256", VD_STATUS_VERIFIED },
		{ "ds-ps256", VD_STATUS_VERIFIED },
		{ "ds-expired", VD_STATUS_EXPIRED },
		{ "ds-notyet", VD_STATUS_NOT_YET_VALID },
		{ "ds-revoked", VD_STATUS_REVOKED },
		{ "ds-foreign", VD_STATUS_UNTRUSTED },
		{ "foreign-root", VD_STATUS_UNTRUSTED },
	};
	const time_t now = 1780272000;	/* 2026-06-01 */
	struct vd_trust_info info;
	struct vd_verdict why;
	uint8_t kid[VD_KID_LEN];
	X509 *found[4], *cert;
	unsigned int i, before;

	vd_trust_get_info(trust, &info);
	tap_ok(info.n_roots == 1 && info.n_signers == 5 && info.n_crls == 1 && info.n_opposed == 2,
			"counts: %u roots, %u signers, %u CRLs, %u opposed", info.n_roots,
			info.n_signers, info.n_crls, info.n_opposed);
	tap_is(info.earliest_expiry, 1609459200, "earliest expiry: ds-expired, 2021-01-01");
	tap_is(info.earliest_crl_next_update, 2524607999, "CRL next update 2049-12-31T23:59:59Z");
	tap_ok(vd_trust_is_opposed(trust, "VTD0000009999") &&
			vd_trust_is_opposed(trust, "VTP0000009999"), "opposed serials found");
	tap_ok(!vd_trust_is_opposed(trust, "VTD0000000001") && !vd_trust_is_opposed(trust, "") &&
			!vd_trust_is_opposed(trust, NULL), "others are not");

	for (i = 0; i < sizeof(signers) / sizeof(signers[0]); i++) {
		enum vd_status got;

		cert = load_cert(signers[i].name);
		if (!tap_ok(cert != NULL, "load %s", signers[i].name))
			continue;
		vd_verdict_set(&why, VD_STATUS_VERIFIED, "ok");
		got = vd_trust_check_signer(trust, cert, now, &why) == 0 ? VD_STATUS_VERIFIED :
			why.status;
		tap_ok(got == signers[i].want, "%s: %s (%s)", signers[i].name,
				vd_status_name(got), why.reason);
		X509_free(cert);
	}

	cert = load_cert("ds-es256");
	vd_cert_kid(cert, kid);
	tap_ok(vd_trust_find_signers(trust, kid, found, 4) == 1 && !X509_cmp(found[0], cert),
			"kid lookup finds ds-es256");
	kid[0] ^= 1;
	tap_is(vd_trust_find_signers(trust, kid, found, 4), 0, "unknown kid: nothing");

	/* the cache: validated once, then free until its window ends */
	before = vd_trust_chain_validations(trust);
	for (i = 0; i < 10; i++)
		vd_trust_check_signer(trust, cert, now + i, &why);
	tap_is(vd_trust_chain_validations(trust), before, "10 more checks: no chain validation");
	tap_is(vd_trust_check_signer(trust, cert, 1577836800, &why), -EPERM,
			"outside the cached window the chain is checked again: %s", why.reason);
	tap_is(vd_trust_chain_validations(trust), before, "(and a failure is not cached)");
	X509_free(cert);

	/* a revoked signer is never cached as good */
	cert = load_cert("ds-revoked");
	tap_is(vd_trust_check_signer(trust, cert, now, &why), -EPERM, "revoked, again");
	tap_is(why.status, VD_STATUS_REVOKED, "still revoked");
	X509_free(cert);
}

/* The test root with one bit of its signature flipped. */
static void write_broken_root(const char *dir)
{
	char path[PATH_MAX + 64];
	unsigned char *der = NULL;
	const unsigned char *p;
	X509 *root = load_cert("root"), *broken = NULL;
	int len;
	FILE *f;

	len = root ? i2d_X509(root, &der) : -1;
	if (len > 0) {
		der[len - 1] ^= 0x01;
		p = der;
		broken = d2i_X509(NULL, &p, len);
	}
	snprintf(path, sizeof(path), "%s/badroot.pem", dir);
	f = fopen(path, "w");
	if (f && broken)
		PEM_write_X509(f, broken);
	if (f)
		fclose(f);
	OPENSSL_free(der);
	X509_free(broken);
	X509_free(root);
}

static void test_bad_files(const char *good)
{
	char dir[] = "/tmp/vitaled-trust.XXXXXX", cmd[3 * PATH_MAX];
	struct reports r = { 0 };
	struct vd_trust_info info;
	struct vd_trust *trust;
	int err;

	if (!mkdtemp(dir)) {
		tap_ok(0, "temporary directory");
		return;
	}
	snprintf(cmd, sizeof(cmd), "cp '%s'/* '%s'/ && head -c 300 '%s/root.pem' > '%s/cut.pem'"
			" && mkdir '%s/dir.pem' && ln -s /dev/zero '%s/zero.pem'",
			good, dir, good, dir, dir, dir);
	if (system(cmd) != 0) {
		tap_ok(0, "copy the test PKI");
		return;
	}
	write_file(dir, "garbage.pem", "hello, I am not a certificate\n");
	write_file(dir, "broken.crl", "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n");
	write_file(dir, "opposition.txt", "# comment\n  VTD0000009999  \n\nNOT A SERIAL\n"
			"VTD000000000000000000000000000001\nVTX1\n");
	write_file(dir, "README", "not looked at\n");
	write_broken_root(dir);

	err = vd_trust_load(dir, report, &r, &trust);
	tap_is(err, 0, "a directory with bad files still loads");
	vd_trust_get_info(trust, &info);
	tap_ok(info.n_roots == 1 && info.n_signers == 5 && info.n_crls == 1 && info.n_opposed == 2,
			"the good files all count (%u/%u/%u/%u)", info.n_roots, info.n_signers,
			info.n_crls, info.n_opposed);
	tap_ok(strstr(r.seen, "garbage.pem") && strstr(r.seen, "broken.crl") &&
			strstr(r.seen, "cut.pem") && strstr(r.seen, "dir.pem") &&
			strstr(r.seen, "zero.pem") && strstr(r.seen, "badroot.pem"),
			"each bad file reported by name");
	tap_ok(strstr(r.seen, "opposition.txt") != NULL, "bad opposition lines reported");
	tap_ok(!strstr(r.seen, "README") && !strstr(r.seen, " root.pem "),
			"good and foreign files not reported");
	tap_ok(vd_trust_is_opposed(trust, "VTX1") && !vd_trust_is_opposed(trust, "NOT"),
			"opposition list: good lines kept");
	vd_trust_unref(trust);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	tap_ok(system(cmd) == 0, "clean up");

	memset(&r, 0, sizeof(r));
	err = vd_trust_load("/nonexistent/trust.d", report, &r, &trust);
	vd_trust_get_info(trust, &info);
	tap_ok(err == 0 && trust && r.n == 1 && info.n_roots == 0,
			"missing directory: reported, empty store");
	vd_trust_unref(trust);
}

/* An opposition list as a person writes it, in no order: every serial on
 * it is found (the lookup is a binary search over the list once sorted). */
static void test_opposition_order(void)
{
	static const char *const listed[] = { "VTD0000000090", "VTD0000000010",
		"VTP0000000070", "VTD0000000050", "VTD0000000030", "VTA1", "VTZ9",
		"VTD0000000020", "VTD0000000080" };
	char dir[] = "/tmp/test-trust-XXXXXX", text[512] = "", cmd[64];
	struct vd_trust_info info;
	struct vd_trust *trust;
	unsigned int i, found = 0;

	if (!mkdtemp(dir)) {
		tap_ok(0, "temporary directory");
		return;
	}
	for (i = 0; i < sizeof(listed) / sizeof(listed[0]); i++) {
		strcat(text, listed[i]);
		strcat(text, "\n");
	}
	write_file(dir, "opposition.txt", text);
	if (!tap_ok(vd_trust_load(dir, NULL, NULL, &trust) == 0, "unsorted opposition list loads"))
		return;
	vd_trust_get_info(trust, &info);
	for (i = 0; i < sizeof(listed) / sizeof(listed[0]); i++)
		if (vd_trust_is_opposed(trust, listed[i]))
			found++;
		else
			printf("# not found: %s\n", listed[i]);
	tap_ok(info.n_opposed == i && found == i, "each of %u unsorted serials is opposed (%u)",
			i, found);
	tap_ok(!vd_trust_is_opposed(trust, "VTD0000000040") &&
			!vd_trust_is_opposed(trust, "VTD00000000900"), "serials not listed are not");
	vd_trust_unref(trust);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	tap_ok(system(cmd) == 0, "clean up");
}

int main(void)
{
	char dir[PATH_MAX + 16];
	struct reports r = { 0 };
	struct vd_trust *trust;

	snprintf(dir, sizeof(dir), "%s/trust.d", chipimg_pki());
	tap_ok(vd_trust_load(dir, report, &r, &trust) == 0 && r.n == 0,
			"test PKI loads without a report");
	test_good_store(trust);
	tap_ok(vd_trust_ref(trust) == trust, "ref");
	vd_trust_unref(trust);
	vd_trust_unref(trust);
	test_bad_files(dir);
	test_opposition_order();
	return tap_done();
}
