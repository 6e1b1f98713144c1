/*
 * The floor of bench/bench-card.py: the least any program can do to read
 * and verify a card through the same pcscd and emulator as vitaled.
 *
 *   bench-card-floor READER APDU-FILE TRUST-DIR ROUNDS
 *
 * For each round it waits (SCardGetStatusChange, INFINITE) for a card,
 * then connects, opens a transaction, replays the command APDUs of
 * APDU-FILE (one hex line each, as recorded from vitaled's own read; the
 * INTERNAL AUTHENTICATE challenge is drawn afresh), closes and prints
 * "replay_us N" measured from its wake-up; then waits for the card to
 * go ("gone").  At the end it verifies the last read with OpenSSL the way a
 * verifier has to (CMS with the trust store and its CRLs, a hash per data
 * group, the chip's ECDSA signature on the challenge), many times, and
 * prints "crypto_us N" (median) and "crypto_ok 1".  No parsing beyond
 * what finding the files needs: that is the floor.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <winscard.h>

#define MAX_APDUS	64
#define MAX_FILE	(8192 + 8)
#define CRYPTO_RUNS	31

struct apdu {
	uint8_t b[261];
	size_t len;
};

static struct apdu cmds[MAX_APDUS];
static size_t n_cmds;
static uint8_t files[32][MAX_FILE];	/* by SFI, as read */
static size_t file_len[32];
static uint8_t challenge[64], signature[80];
static size_t challenge_len, signature_len;

static long usec(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000000L + (b->tv_nsec - a->tv_nsec) / 1000;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

static int load_apdus(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];

	if (!f)
		return -1;
	while (n_cmds < MAX_APDUS && fgets(line, sizeof(line), f)) {
		struct apdu *a = &cmds[n_cmds];
		unsigned int byte;

		for (char *p = line; a->len < sizeof(a->b) && sscanf(p, "%2x", &byte) == 1; p += 2)
			a->b[a->len++] = (uint8_t)byte;
		if (a->len >= 4)
			n_cmds++;
	}
	fclose(f);
	return n_cmds ? 0 : -1;
}

static void wait_card(SCARDCONTEXT ctx, SCARD_READERSTATE *st, bool present)
{
	for (;;) {
		bool now = (st->dwEventState & SCARD_STATE_PRESENT) &&
			!(st->dwEventState & SCARD_STATE_MUTE);

		if (st->dwCurrentState != SCARD_STATE_UNAWARE && now == present)
			return;
		st->dwCurrentState = st->dwEventState & ~SCARD_STATE_CHANGED;
		if (SCardGetStatusChange(ctx, INFINITE, st, 1) != SCARD_S_SUCCESS) {
			fprintf(stderr, "SCardGetStatusChange failed\n");
			exit(1);
		}
	}
}

/* One read: the recorded APDUs, the responses kept per file. */
static int replay(SCARDCONTEXT ctx, const char *reader)
{
	SCARDHANDLE card;
	DWORD proto;
	int cur = -1;

	if (SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
			&card, &proto) != SCARD_S_SUCCESS)
		return -1;
	if (SCardBeginTransaction(card) != SCARD_S_SUCCESS)
		return -1;
	for (size_t i = 0; i < n_cmds; i++) {
		struct apdu a = cmds[i];
		uint8_t resp[258];
		DWORD len = sizeof(resp);

		if (a.b[1] == 0x88 && a.len > 5) {
			challenge_len = a.b[4];
			RAND_bytes(a.b + 5, (int)challenge_len);
			memcpy(challenge, a.b + 5, challenge_len);
		}
		if (SCardTransmit(card, proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1,
				a.b, (DWORD)a.len, NULL, resp, &len) != SCARD_S_SUCCESS || len < 2)
			return -1;
		len -= 2;
		if (a.b[1] == 0xB0) {
			if (a.b[2] & 0x80) {
				cur = a.b[2] & 0x1F;
				file_len[cur] = 0;
			}
			if (cur >= 0 && file_len[cur] + len <= MAX_FILE) {
				memcpy(files[cur] + file_len[cur], resp, len);
				file_len[cur] += len;
			}
		} else if (a.b[1] == 0x88 && len <= sizeof(signature)) {
			memcpy(signature, resp, len);
			signature_len = len;
		}
	}
	SCardEndTransaction(card, SCARD_LEAVE_CARD);
	SCardDisconnect(card, SCARD_LEAVE_CARD);
	return 0;
}

/* Value of the one-byte-tag TLV a file holds. */
static const uint8_t *tlv_value(const uint8_t *p, size_t n, size_t *len)
{
	size_t l, hdr = 2;

	if (n < 2)
		return NULL;
	l = p[1];
	if (l == 0x81 && n >= 3) {
		l = p[2];
		hdr = 3;
	} else if (l == 0x82 && n >= 4) {
		l = (size_t)p[2] << 8 | p[3];
		hdr = 4;
	} else if (l > 0x7F) {
		return NULL;
	}
	if (hdr + l > n)
		return NULL;
	*len = l;
	return p + hdr;
}

static X509_STORE *load_store(const char *dir)
{
	X509_STORE *store = X509_STORE_new();
	struct dirent *e;
	DIR *d = opendir(dir);
	bool crls = false;

	if (!store || !d)
		return NULL;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		char path[4096];
		BIO *bio;
		X509 *x;
		X509_CRL *crl;

		if (n < 5)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		bio = BIO_new_file(path, "r");
		if (!bio)
			continue;
		if (!strcmp(e->d_name + n - 4, ".pem")) {
			while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
				/* roots are self-signed; signers travel in the CMS */
				if (X509_check_issued(x, x) == X509_V_OK)
					X509_STORE_add_cert(store, x);
				X509_free(x);
			}
		} else if (!strcmp(e->d_name + n - 4, ".crl")) {
			while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL))) {
				X509_STORE_add_crl(store, crl);
				X509_CRL_free(crl);
				crls = true;
			}
		}
		BIO_free(bio);
	}
	closedir(d);
	/* each read loop ends on "no start line" (the end of its file) */
	ERR_clear_error();
	if (crls)
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	/* document signers are not S/MIME signers */
	X509_STORE_set_purpose(store, X509_PURPOSE_ANY);
	return store;
}

/* CMS + one hash per data group + the chip's signature: 1 if all pass. */
static int verify(X509_STORE *store)
{
	static const int dgs[] = { 1, 2, 3, 4, 15 };
	const uint8_t *v, *p;
	size_t len;
	BIO *in, *out;
	CMS_ContentInfo *cms;
	EVP_PKEY *key;
	ECDSA_SIG *sig;
	EVP_MD_CTX *md;
	uint8_t hash[EVP_MAX_MD_SIZE], *der = NULL;
	unsigned int hlen;
	int ok, der_len;

	v = tlv_value(files[0x1D], file_len[0x1D], &len);
	if (!v)
		return 0;
	in = BIO_new_mem_buf(v, (int)len);
	out = BIO_new(BIO_s_mem());
	cms = d2i_CMS_bio(in, NULL);
	ok = cms && CMS_verify(cms, NULL, store, NULL, out, CMS_BINARY) == 1;
	if (!ok)
		fprintf(stderr, "bench-card-floor: EF.SOD (%zu bytes) does not verify\n", len);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	BIO_free(out);
	for (size_t i = 0; i < sizeof(dgs) / sizeof(dgs[0]); i++)
		if (file_len[dgs[i]])
			EVP_Digest(files[dgs[i]], file_len[dgs[i]], hash, &hlen, EVP_sha256(), NULL);
	v = tlv_value(files[0x0F], file_len[0x0F], &len);
	if (!v || signature_len != 64) {
		fprintf(stderr, "bench-card-floor: no DG15 (%zu bytes) or a %zu-byte signature\n",
				file_len[0x0F], signature_len);
		return 0;
	}
	p = v;
	key = d2i_PUBKEY(NULL, &p, (long)len);
	sig = ECDSA_SIG_new();
	if (!key || !sig) {
		EVP_PKEY_free(key);
		ECDSA_SIG_free(sig);
		return 0;
	}
	ECDSA_SIG_set0(sig, BN_bin2bn(signature, 32, NULL), BN_bin2bn(signature + 32, 32, NULL));
	der_len = i2d_ECDSA_SIG(sig, &der);
	md = EVP_MD_CTX_new();
	if (!(der_len > 0 && md &&
	      EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	      EVP_DigestVerify(md, der, (size_t)der_len, challenge, challenge_len) == 1)) {
		fprintf(stderr, "bench-card-floor: the chip's signature does not verify\n");
		ok = 0;
	}
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
	EVP_PKEY_free(key);
	return ok;
}

int main(int argc, char **argv)
{
	SCARD_READERSTATE st = { 0 };
	SCARDCONTEXT ctx;
	X509_STORE *store;
	long runs[CRYPTO_RUNS];
	int rounds, ok = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: %s READER APDU-FILE TRUST-DIR ROUNDS\n", argv[0]);
		return 2;
	}
	rounds = atoi(argv[4]);
	if (load_apdus(argv[2]) < 0 || !(store = load_store(argv[3]))) {
		fprintf(stderr, "cannot load %s or %s\n", argv[2], argv[3]);
		return 1;
	}
	if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx) != SCARD_S_SUCCESS) {
		fprintf(stderr, "pcscd not reachable\n");
		return 1;
	}
	st.szReader = argv[1];
	st.dwCurrentState = SCARD_STATE_UNAWARE;
	printf("ready\n");
	fflush(stdout);
	for (int i = 0; i < rounds; i++) {
		struct timespec t0, t1;

		wait_card(ctx, &st, true);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (replay(ctx, argv[1]) < 0) {
			fprintf(stderr, "replay failed\n");
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("replay_us %ld\n", usec(&t0, &t1));
		fflush(stdout);
		wait_card(ctx, &st, false);
		printf("gone\n");
		fflush(stdout);
	}
	for (int i = 0; i < CRYPTO_RUNS; i++) {
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		ok = verify(store);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		runs[i] = usec(&t0, &t1);
	}
	qsort(runs, CRYPTO_RUNS, sizeof(runs[0]), cmp_long);
	if (!ok)
		ERR_print_errors_fp(stderr);
	printf("crypto_us %ld\ncrypto_ok %d\n", runs[CRYPTO_RUNS / 2], ok);
	X509_STORE_free(store);
	SCardReleaseContext(ctx);
	return ok ? 0 : 1;
}
