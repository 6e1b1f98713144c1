/*
 * Trust store: issuer roots, document-signer certificates (looked up by
 * kid), CRLs and the opposition list, loaded from one directory.
 *
 * A bad file is reported and skipped: one broken CRL must not leave a
 * clinic unable to read any card.  The store is immutable once loaded,
 * except for the cache of validated signer chains, which has its own lock
 * (the verification context prepared for each signer is only ever copied).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "internal.h"

#define MAX_FILE_SIZE		(1024 * 1024)
#define MAX_OBJECTS		4096	/* certificates + CRLs in one store */
#define MAX_OPPOSED		100000
#define SERIAL_MAX		20
/* The opposition list at its largest: every serial at full length, CR LF. */
#define MAX_OPPOSITION_SIZE	(MAX_OPPOSED * (SERIAL_MAX + 2))
#define CHAIN_CACHE_SIZE	64

struct signer {
	X509 *cert;
	uint8_t fingerprint[32];	/* SHA-256 of the DER; the kid is its start */
	/* ECDSA verification with the certificate's key, set up once (the
	 * set-up fetches the algorithm: more than a copy); NULL unless EC */
	EVP_PKEY_CTX *verify;
	unsigned char *der;	/* the certificate as documents carry it */
	int der_len;
};

/* A signer whose chain validated, and the window that result holds for. */
struct chain_entry {
	uint8_t fingerprint[32];
	time_t from;
	time_t until;
	bool used;
};

struct vd_trust {
	atomic_uint refs;
	X509_STORE *store;		/* roots + CRLs */
	STACK_OF(X509) *untrusted;	/* signers and intermediates */
	STACK_OF(X509_CRL) *crls;	/* also in store; kept for lookups */
	struct signer *signers;
	size_t n_signers;
	size_t n_roots;
	size_t n_crls;
	char (*opposed)[SERIAL_MAX + 1];	/* sorted */
	size_t n_opposed;
	time_t earliest_expiry;
	time_t earliest_crl_next_update;

	atomic_uint chain_validations;	/* full validations done (not cache hits) */
	pthread_mutex_t cache_lock;
	struct chain_entry cache[CHAIN_CACHE_SIZE];
	unsigned int cache_next;	/* round-robin eviction */
};

struct loader {
	struct vd_trust *trust;
	vd_trust_report_func report;
	const struct vd_trust_visitor *visit;
	void *user_data;
	size_t n_objects;
	size_t cap_signers;
	size_t cap_opposed;
};

static void report(struct loader *ld, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report(struct loader *ld, const char *path, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	if (!ld->report)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ld->report(path, why, ld->user_data);
}

/* The innermost OpenSSL error as text, clearing the queue. */
static const char *ssl_reason(void)
{
	unsigned long err = ERR_peek_last_error();
	const char *why = err ? ERR_reason_error_string(err) : NULL;

	ERR_clear_error();
	return why ? why : "unrecognised content";
}

static int asn1_time_to_time_t(const ASN1_TIME *at, time_t *out)
{
	struct tm tm;

	if (!at || ASN1_TIME_to_tm(at, &tm) != 1)
		return -EINVAL;
	*out = timegm(&tm);
	return 0;
}

static void note_earliest(time_t *earliest, const ASN1_TIME *at)
{
	time_t t;

	if (asn1_time_to_time_t(at, &t) < 0)
		return;
	if (*earliest == 0 || t < *earliest)
		*earliest = t;
}

int vd_cert_kid(X509 *cert, uint8_t kid[VD_KID_LEN])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (!cert || X509_digest(cert, EVP_sha256(), md, &md_len) != 1 ||
			md_len < VD_KID_LEN)
		return -EINVAL;
	memcpy(kid, md, VD_KID_LEN);
	return 0;
}

/* Read a whole small regular file into a memory BIO (at most max bytes). */
static BIO *read_file(struct loader *ld, int dfd, const char *name, const char *path,
		off_t max)
{
	off_t size;
	BIO *bio = NULL;
	char *buf = NULL;
	ssize_t n;
	size_t got = 0;
	int fd;

	fd = vd_open_regular(dfd, name, &size);
	if (fd < 0) {
		report(ld, path, "cannot open: %s", vd_open_strerror(fd));
		return NULL;
	}
	if (size > max) {
		report(ld, path, "too large (over %lld bytes)", (long long)max);
		goto out;
	}
	buf = malloc(size + 1);
	if (!buf) {
		report(ld, path, "out of memory");
		goto out;
	}
	while (got < (size_t)size) {
		n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			report(ld, path, "read error: %s", n < 0 ? strerror(errno) : "short file");
			goto out;
		}
		got += n;
	}
	bio = BIO_new(BIO_s_mem());
	if (bio && BIO_write(bio, buf, (int)got) != (int)got) {
		BIO_free(bio);
		bio = NULL;
	}
	if (!bio)
		report(ld, path, "out of memory");
out:
	free(buf);
	close(fd);
	return bio;
}

static bool self_issued_ca(X509 *cert)
{
	return X509_check_issued(cert, cert) == X509_V_OK && X509_check_ca(cert) > 0;
}

static bool self_signature_ok(X509 *cert)
{
	EVP_PKEY *key = X509_get0_pubkey(cert);

	return key && X509_verify(cert, key) == 1;
}

static EVP_PKEY_CTX *prepare_verify(X509 *cert)
{
	EVP_PKEY *key = X509_get0_pubkey(cert);
	EVP_PKEY_CTX *ctx;

	if (!key || !EVP_PKEY_is_a(key, "EC"))
		return NULL;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	if (ctx && EVP_PKEY_verify_init(ctx) != 1) {
		EVP_PKEY_CTX_free(ctx);
		ctx = NULL;
	}
	ERR_clear_error();
	return ctx;
}

static int add_signer(struct loader *ld, X509 *cert)
{
	struct vd_trust *trust = ld->trust;
	unsigned int fp_len = 0;
	struct signer *s;

	if (trust->n_signers == ld->cap_signers) {
		size_t cap = ld->cap_signers ? 2 * ld->cap_signers : 16;

		s = realloc(trust->signers, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		trust->signers = s;
		ld->cap_signers = cap;
	}
	s = &trust->signers[trust->n_signers];
	if (X509_digest(cert, EVP_sha256(), s->fingerprint, &fp_len) != 1 || fp_len != 32)
		return -EINVAL;
	if (!X509_up_ref(cert))
		return -ENOMEM;
	if (!sk_X509_push(trust->untrusted, cert)) {
		X509_free(cert);
		return -ENOMEM;
	}
	s->cert = cert;
	s->verify = prepare_verify(cert);
	s->der = NULL;
	s->der_len = i2d_X509(cert, &s->der);
	trust->n_signers++;
	return 0;
}

/* After a PEM read loop: the end of the data is "no start line";
 * anything else is damage, and so is a file with nothing in it. */
static void pem_done(struct loader *ld, const char *path, BIO *bio,
		unsigned int found, const char *none)
{
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE || !found)
		report(ld, path, "%s", found ? ssl_reason() : none);
	ERR_clear_error();
	BIO_free(bio);
}

static void load_pem_certs(struct loader *ld, int dfd, const char *name, const char *path)
{
	struct vd_trust *trust = ld->trust;
	unsigned int found = 0;
	X509 *cert;
	BIO *bio;

	bio = read_file(ld, dfd, name, path, MAX_FILE_SIZE);
	if (!bio)
		return;
	ERR_clear_error();
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		bool root;
		int err;

		found++;
		if (++ld->n_objects > MAX_OBJECTS) {
			report(ld, path, "too many certificates in the store");
			X509_free(cert);
			break;
		}
		root = self_issued_ca(cert);
		if (root && !self_signature_ok(cert)) {
			report(ld, path, "certificate %u: self-signature does not verify", found);
			X509_free(cert);
			continue;
		}
		if (root) {
			err = X509_STORE_add_cert(trust->store, cert) == 1 ? 0 : -EINVAL;
			if (!err)
				trust->n_roots++;
		} else {
			err = add_signer(ld, cert);
		}
		if (err < 0) {
			report(ld, path, "certificate %u: cannot add to the store", found);
		} else {
			note_earliest(&trust->earliest_expiry, X509_get0_notAfter(cert));
			if (ld->visit && ld->visit->cert)
				ld->visit->cert(name, cert, root, ld->user_data);
		}
		X509_free(cert);
	}
	pem_done(ld, path, bio, found, "no certificate found");
}

static void load_crl(struct loader *ld, int dfd, const char *name, const char *path)
{
	struct vd_trust *trust = ld->trust;
	unsigned int found = 0;
	X509_CRL *crl;
	BIO *bio;

	bio = read_file(ld, dfd, name, path, MAX_FILE_SIZE);
	if (!bio)
		return;
	ERR_clear_error();
	while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL))) {
		found++;
		if (++ld->n_objects > MAX_OBJECTS) {
			report(ld, path, "too many objects in the store");
			X509_CRL_free(crl);
			break;
		}
		if (X509_STORE_add_crl(trust->store, crl) == 1 && X509_CRL_up_ref(crl)) {
			if (!sk_X509_CRL_push(trust->crls, crl))
				X509_CRL_free(crl);
			trust->n_crls++;
			note_earliest(&trust->earliest_crl_next_update,
					X509_CRL_get0_nextUpdate(crl));
			if (ld->visit && ld->visit->crl)
				ld->visit->crl(name, crl, ld->user_data);
		} else {
			report(ld, path, "CRL %u: cannot add to the store", found);
		}
		X509_CRL_free(crl);
	}
	pem_done(ld, path, bio, found, "no CRL found");
}

static bool valid_serial(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > SERIAL_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return false;
	return true;
}

static int cmp_serial(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void load_opposition(struct loader *ld, int dfd, const char *name, const char *path)
{
	struct vd_trust *trust = ld->trust;
	unsigned int lineno = 0;
	char line[256];
	BIO *bio;

	bio = read_file(ld, dfd, name, path, MAX_OPPOSITION_SIZE);
	if (!bio)
		return;
	while (BIO_gets(bio, line, sizeof(line)) > 0) {
		size_t len = strcspn(line, "\r\n");
		char *s = line;

		lineno++;
		if (line[len] == '\0' && !BIO_eof(bio)) {
			report(ld, path, "line %u: too long", lineno);
			/* Skip the rest of the over-long line. */
			while (BIO_gets(bio, line, sizeof(line)) > 0 &&
					!strpbrk(line, "\r\n"))
				;
			continue;
		}
		line[len] = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		len = strlen(s);
		while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			s[--len] = '\0';
		if (len == 0 || s[0] == '#')
			continue;
		if (!valid_serial(s, len)) {
			report(ld, path, "line %u: not a card serial", lineno);
			continue;
		}
		if (trust->n_opposed == MAX_OPPOSED) {
			report(ld, path, "line %u: more than %d serials", lineno, MAX_OPPOSED);
			break;
		}
		if (trust->n_opposed == ld->cap_opposed) {
			size_t cap = ld->cap_opposed ? 2 * ld->cap_opposed : 64;
			void *p = realloc(trust->opposed, cap * sizeof(*trust->opposed));

			if (!p) {
				report(ld, path, "out of memory");
				break;
			}
			trust->opposed = p;
			ld->cap_opposed = cap;
		}
		memcpy(trust->opposed[trust->n_opposed++], s, len + 1);
	}
	BIO_free(bio);
	if (trust->n_opposed)
		qsort(trust->opposed, trust->n_opposed, sizeof(*trust->opposed), cmp_serial);
}

static bool has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return n > s && !strcmp(name + n - s, suffix);
}

static int skip_hidden(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static void trust_free(struct vd_trust *trust)
{
	size_t i;

	for (i = 0; i < trust->n_signers; i++) {
		X509_free(trust->signers[i].cert);
		EVP_PKEY_CTX_free(trust->signers[i].verify);
		OPENSSL_free(trust->signers[i].der);
	}
	free(trust->signers);
	sk_X509_free(trust->untrusted);
	sk_X509_CRL_pop_free(trust->crls, X509_CRL_free);
	X509_STORE_free(trust->store);
	free(trust->opposed);
	pthread_mutex_destroy(&trust->cache_lock);
	free(trust);
}

int vd_trust_load(const char *dir, vd_trust_report_func report_func, void *user_data,
		struct vd_trust **out)
{
	return vd_trust_load_visit(dir, report_func, NULL, user_data, out);
}

int vd_trust_load_visit(const char *dir, vd_trust_report_func report_func,
		const struct vd_trust_visitor *visit, void *user_data, struct vd_trust **out)
{
	struct loader ld = { .report = report_func, .visit = visit, .user_data = user_data };
	struct dirent **names = NULL;
	struct vd_trust *trust;
	int dfd, n, i, err = 0;

	*out = NULL;
	/* An unreadable directory is reported and gives an empty store: the
	 * daemon still starts, and everything then verifies as untrusted. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		n = scandirat(dfd, ".", &names, skip_hidden, alphasort);
		if (n < 0) {
			close(dfd);
			dfd = -1;
		}
	}
	if (dfd < 0) {
		report(&ld, dir, "cannot read the trust directory: %s", strerror(errno));
		n = 0;
	}

	trust = calloc(1, sizeof(*trust));
	if (!trust) {
		err = -ENOMEM;
		goto out;
	}
	atomic_init(&trust->refs, 1);
	pthread_mutex_init(&trust->cache_lock, NULL);
	trust->store = X509_STORE_new();
	trust->untrusted = sk_X509_new_null();
	trust->crls = sk_X509_CRL_new_null();
	if (!trust->store || !trust->untrusted || !trust->crls) {
		trust_free(trust);
		trust = NULL;
		err = -ENOMEM;
		goto out;
	}
	ld.trust = trust;

	for (i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (has_suffix(name, ".pem"))
			load_pem_certs(&ld, dfd, name, path);
		else if (has_suffix(name, ".crl"))
			load_crl(&ld, dfd, name, path);
		else if (!strcmp(name, "opposition.txt"))
			load_opposition(&ld, dfd, name, path);
	}
	*out = trust;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (dfd >= 0)
		close(dfd);
	return err;
}

struct vd_trust *vd_trust_ref(struct vd_trust *trust)
{
	if (trust)
		atomic_fetch_add_explicit(&trust->refs, 1, memory_order_relaxed);
	return trust;
}

void vd_trust_unref(struct vd_trust *trust)
{
	if (!trust)
		return;
	if (atomic_fetch_sub_explicit(&trust->refs, 1, memory_order_acq_rel) != 1)
		return;
	trust_free(trust);
}

void vd_trust_get_info(const struct vd_trust *trust, struct vd_trust_info *out)
{
	memset(out, 0, sizeof(*out));
	if (!trust)
		return;
	out->n_roots = trust->n_roots;
	out->n_signers = trust->n_signers;
	out->n_crls = trust->n_crls;
	out->n_opposed = trust->n_opposed;
	out->earliest_expiry = trust->earliest_expiry;
	out->earliest_crl_next_update = trust->earliest_crl_next_update;
}

size_t vd_trust_find_signers(const struct vd_trust *trust,
		const uint8_t kid[VD_KID_LEN], X509 **out, size_t max)
{
	size_t i, found = 0;

	for (i = 0; i < trust->n_signers; i++) {
		if (memcmp(trust->signers[i].fingerprint, kid, VD_KID_LEN))
			continue;
		if (found < max)
			out[found] = trust->signers[i].cert;
		found++;
	}
	return found;
}

X509 *vd_trust_signer_of(const struct vd_trust *trust, CMS_SignerInfo *si)
{
	size_t i;

	/* issuer and serial (or key identifier) against each signer: no
	 * hashing of the certificate the document carries */
	for (i = 0; i < trust->n_signers; i++)
		if (!CMS_SignerInfo_cert_cmp(si, trust->signers[i].cert))
			return trust->signers[i].cert;
	return NULL;
}

X509 *vd_trust_signer_by_ias(const struct vd_trust *trust, const X509_NAME *issuer,
		const ASN1_INTEGER *serial)
{
	size_t i;

	/* the comparison CMS_SignerInfo_cert_cmp makes for this sid */
	for (i = 0; i < trust->n_signers; i++) {
		X509 *cert = trust->signers[i].cert;

		if (!X509_NAME_cmp(issuer, X509_get_issuer_name(cert)) &&
				!ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(cert)))
			return cert;
	}
	return NULL;
}

bool vd_trust_signer_der_equal(const struct vd_trust *trust, const X509 *signer,
		const uint8_t *der, int len)
{
	size_t i;

	for (i = 0; i < trust->n_signers; i++)
		if (trust->signers[i].cert == signer)
			return trust->signers[i].der && trust->signers[i].der_len == len &&
				!memcmp(trust->signers[i].der, der, len);
	return false;
}

EVP_PKEY_CTX *vd_trust_signer_verify_ctx(const struct vd_trust *trust, const X509 *signer)
{
	size_t i;

	/* A copy each: contexts are not for sharing between threads, and
	 * copying one is cheap. */
	for (i = 0; i < trust->n_signers; i++)
		if (trust->signers[i].cert == signer)
			return trust->signers[i].verify ?
				EVP_PKEY_CTX_dup(trust->signers[i].verify) : NULL;
	return NULL;
}

X509_STORE *vd_trust_store(const struct vd_trust *trust)
{
	return trust->store;
}

bool vd_trust_is_opposed(const struct vd_trust *trust, const char *serial)
{
	if (!serial || !*serial || strlen(serial) > SERIAL_MAX || !trust->n_opposed)
		return false;
	return bsearch(serial, trust->opposed, trust->n_opposed,
			sizeof(*trust->opposed), cmp_serial) != NULL;
}

/* ---- chain validation with a cache ---------------------------------- */

static bool cache_lookup(struct vd_trust *trust, const uint8_t fp[32], time_t now)
{
	bool hit = false;
	unsigned int i;

	pthread_mutex_lock(&trust->cache_lock);
	for (i = 0; i < CHAIN_CACHE_SIZE && !hit; i++) {
		const struct chain_entry *e = &trust->cache[i];

		hit = e->used && !memcmp(e->fingerprint, fp, 32) &&
			now >= e->from && now <= e->until;
	}
	pthread_mutex_unlock(&trust->cache_lock);
	return hit;
}

static void cache_store(struct vd_trust *trust, const uint8_t fp[32], time_t from,
		time_t until)
{
	struct chain_entry *e;

	pthread_mutex_lock(&trust->cache_lock);
	e = &trust->cache[trust->cache_next];
	trust->cache_next = (trust->cache_next + 1) % CHAIN_CACHE_SIZE;
	memcpy(e->fingerprint, fp, 32);
	e->from = from;
	e->until = until;
	e->used = true;
	pthread_mutex_unlock(&trust->cache_lock);
}

static void narrow(time_t *from, time_t *until, const ASN1_TIME *start, const ASN1_TIME *end)
{
	time_t t;

	if (start && asn1_time_to_time_t(start, &t) == 0 && t > *from)
		*from = t;
	if (end && asn1_time_to_time_t(end, &t) == 0 && t < *until)
		*until = t;
}

static bool has_crl_from(const struct vd_trust *trust, const X509_NAME *issuer)
{
	int i;

	for (i = 0; i < sk_X509_CRL_num(trust->crls); i++)
		if (!X509_NAME_cmp(X509_CRL_get_issuer(sk_X509_CRL_value(trust->crls, i)),
					issuer))
			return true;
	return false;
}

/*
 * The window in which a validated chain stays valid: every certificate's
 * validity and the update times of the CRLs issued along the chain.
 */
static void chain_window(const struct vd_trust *trust, STACK_OF(X509) *chain,
		time_t *from, time_t *until)
{
	int i, j;

	*from = 0;
	*until = (time_t)INT64_MAX;
	for (i = 0; i < sk_X509_num(chain); i++) {
		X509 *c = sk_X509_value(chain, i);

		narrow(from, until, X509_get0_notBefore(c), X509_get0_notAfter(c));
		for (j = 0; j < sk_X509_CRL_num(trust->crls); j++) {
			X509_CRL *crl = sk_X509_CRL_value(trust->crls, j);

			if (!X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(c)))
				narrow(from, until, X509_CRL_get0_lastUpdate(crl),
						X509_CRL_get0_nextUpdate(crl));
		}
	}
}

/*
 * OpenSSL stops at the first error, and checks revocation before validity
 * times: a signer that is not valid yet would come out as "CRL not yet
 * valid".  Every error is collected instead, and the most telling wins:
 * revoked, then the certificates' own times, then anything else.
 * Verification always fails when anything was collected.
 */
struct chain_errors {
	int revoked_depth;	/* -1: none */
	int time_err, time_depth;
	int other_err, other_depth;
};

static int collect_errors(int ok, X509_STORE_CTX *sctx)
{
	struct chain_errors *e = X509_STORE_CTX_get_app_data(sctx);
	int err = X509_STORE_CTX_get_error(sctx);
	int depth = X509_STORE_CTX_get_error_depth(sctx);

	if (ok)
		return 1;
	switch (err) {
	case X509_V_ERR_CERT_REVOKED:
		if (e->revoked_depth < 0)
			e->revoked_depth = depth;
		break;
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		if (!e->time_err) {
			e->time_err = err;
			e->time_depth = depth;
		}
		break;
	default:
		if (!e->other_err) {
			e->other_err = err;
			e->other_depth = depth;
		}
		/* Without an issuer there is nothing more worth checking. */
		if (err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
				err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
				err == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
				err == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
			return 0;
		break;
	}
	return 1;
}

static bool chain_failed(const struct chain_errors *e, struct vd_verdict *why)
{
	const char *what;
	int depth;

	if (e->revoked_depth >= 0) {
		what = e->revoked_depth == 0 ? "signer certificate" : "issuer certificate";
		vd_verdict_set(why, VD_STATUS_REVOKED, "%s is revoked", what);
		return true;
	}
	if (e->time_err) {
		what = e->time_depth == 0 ? "signer certificate" : "issuer certificate";
		if (e->time_err == X509_V_ERR_CERT_HAS_EXPIRED)
			vd_verdict_set(why, VD_STATUS_EXPIRED, "%s has expired", what);
		else
			vd_verdict_set(why, VD_STATUS_NOT_YET_VALID, "%s is not yet valid", what);
		return true;
	}
	if (e->other_err) {
		depth = e->other_depth;
		what = depth == 0 ? "signer certificate" : "issuer certificate";
		vd_verdict_set(why, VD_STATUS_UNTRUSTED, "%s: %s", what,
				X509_verify_cert_error_string(e->other_err));
		return true;
	}
	return false;
}

/* SHA-256 of the DER: precomputed for the store's own signers. */
static int fingerprint(const struct vd_trust *trust, X509 *cert, uint8_t fp[32])
{
	unsigned int len = 0;
	size_t i;

	for (i = 0; i < trust->n_signers; i++) {
		if (trust->signers[i].cert == cert) {
			memcpy(fp, trust->signers[i].fingerprint, 32);
			return 0;
		}
	}
	return X509_digest(cert, EVP_sha256(), fp, &len) == 1 && len == 32 ? 0 : -EINVAL;
}

int vd_trust_check_signer(struct vd_trust *trust, X509 *signer, time_t now,
		struct vd_verdict *why)
{
	X509_STORE_CTX *sctx = NULL;
	X509_VERIFY_PARAM *param;
	STACK_OF(X509) *chain;
	uint8_t fp[32];
	struct chain_errors errors = { .revoked_depth = -1 };
	time_t from, until;
	int ret = -EPERM;
	bool ok;

	if (!signer || fingerprint(trust, signer, fp) < 0) {
		vd_verdict_set(why, VD_STATUS_UNTRUSTED, "unusable signer certificate");
		return -EPERM;
	}
	if (cache_lookup(trust, fp, now))
		return 0;

	sctx = X509_STORE_CTX_new();
	if (!sctx || X509_STORE_CTX_init(sctx, trust->store, signer, trust->untrusted) != 1) {
		vd_verdict_set(why, VD_STATUS_UNTRUSTED, "cannot set up chain validation");
		goto out;
	}
	param = X509_STORE_CTX_get0_param(sctx);
	X509_VERIFY_PARAM_set_time(param, now);
	/* Check the signer's revocation when its issuer publishes a CRL:
	 * CRL_CHECK without one would fail every chain for want of a CRL. */
	if (has_crl_from(trust, X509_get_issuer_name(signer)))
		X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CRL_CHECK);
	X509_STORE_CTX_set_app_data(sctx, &errors);
	X509_STORE_CTX_set_verify_cb(sctx, collect_errors);
	ERR_clear_error();
	ok = X509_verify_cert(sctx) == 1;
	ERR_clear_error();
	if (chain_failed(&errors, why))
		goto out;
	if (!ok) {
		vd_verdict_set(why, VD_STATUS_UNTRUSTED, "signer chain does not validate");
		goto out;
	}
	atomic_fetch_add_explicit(&trust->chain_validations, 1, memory_order_relaxed);
	chain = X509_STORE_CTX_get0_chain(sctx);
	chain_window(trust, chain, &from, &until);
	if (from <= now && now <= until)
		cache_store(trust, fp, from, until);
	ret = 0;
out:
	X509_STORE_CTX_free(sctx);
	return ret;
}

unsigned int vd_trust_chain_validations(struct vd_trust *trust)
{
	return atomic_load_explicit(&trust->chain_validations, memory_order_relaxed);
}
