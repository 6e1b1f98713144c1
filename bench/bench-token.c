/*
 * Tokens verified per second against the ECDSA P-256 verify rate that
 * `openssl speed` measures in the same run (both in user CPU time).
 *
 *   bench-token TRUSTDIR NOW TOKENFILE [ROUNDS]
 *
 * A token costs two ECDSA verifications (issuer, holder) once its signer
 * chain is cached, so the limit is verify_rate / 2; the ratio says how
 * much of it the rest (base45, zlib, CBOR, key import, data groups)
 * leaves.  The replay cache is not used: it writes a file per accepted
 * token, a cost of the disk, not of verification.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "speed.h"

#define SIGS_PER_TOKEN	2

static void report(const char *path, const char *why, void *user_data)
{
	fprintf(stderr, "bench-token: trust file %s: %s\n", path, why);
}

static char *read_token(const char *path, size_t *len)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Tokens per second of user CPU time, over about one second of it. */
static double token_rate(struct vd_context *ctx, const char *text, size_t len, time_t now,
		struct vd_read_result *res)
{
	double t0 = bench_cpu_now(), elapsed;
	unsigned long n = 0;

	do {
		unsigned int i;

		for (i = 0; i < 32; i++)
			vd_token_verify(ctx, NULL, (const uint8_t *)text, len, now, res);
		n += 32;
		elapsed = bench_cpu_now() - t0;
	} while (elapsed < 1.0);
	return res->verdict.status == VD_STATUS_VERIFIED ? n / elapsed : -1;
}

int main(int argc, char **argv)
{
	double sign_rate, verify_rate, best_verify = 0, best_tokens = 0, limit;
	unsigned int rounds = argc > 4 ? (unsigned int)atoi(argv[4]) : 10;
	unsigned int validations, i;
	struct vd_read_result *res;
	struct vd_context *ctx;
	struct vd_trust *trust;
	size_t len;
	time_t now;
	char *text;

	if (argc < 4 || !rounds) {
		fprintf(stderr, "usage: bench-token TRUSTDIR NOW TOKENFILE [ROUNDS]\n");
		return 2;
	}
	now = (time_t)strtoll(argv[2], NULL, 10);
	text = read_token(argv[3], &len);
	if (!text || vd_trust_load(argv[1], report, NULL, &trust)) {
		fprintf(stderr, "bench-token: cannot read the token or the trust directory\n");
		return 2;
	}
	ctx = vd_context_new(trust, NULL);
	res = vd_read_result_new();
	if (!ctx || !res)
		return 2;

	/* The first verification fills the signer chain cache. */
	vd_token_verify(ctx, NULL, (const uint8_t *)text, len, now, res);
	if (res->verdict.status != VD_STATUS_VERIFIED) {
		fprintf(stderr, "bench-token: token not verified: %s: %s\n",
				vd_status_name(res->verdict.status), res->verdict.reason);
		return 1;
	}
	validations = vd_trust_chain_validations(trust);

	/*
	 * Both sides are pure computation, so both are counted in user CPU
	 * time (openssl speed without -elapsed), which other load on the
	 * machine hardly moves.  One-second rounds alternate, and the best of
	 * each side is kept: the rounds least disturbed by caches and
	 * frequency changes, for both sides alike.
	 */
	for (i = 0; i < rounds; i++) {
		double tokens;

		if (bench_openssl_ecdsa_p256_cpu(1, &sign_rate, &verify_rate)) {
			fprintf(stderr, "bench-token: openssl speed failed\n");
			return 1;
		}
		tokens = token_rate(ctx, text, len, now, res);
		if (tokens < 0) {
			fprintf(stderr, "bench-token: verdict changed during the run\n");
			return 1;
		}
		printf("round %u: openssl verify %.0f/s, tokens %.0f/s, ratio %.1f%%\n",
				i + 1, verify_rate, tokens,
				100.0 * tokens / (verify_rate / SIGS_PER_TOKEN));
		if (verify_rate > best_verify)
			best_verify = verify_rate;
		if (tokens > best_tokens)
			best_tokens = tokens;
	}

	limit = best_verify / SIGS_PER_TOKEN;
	printf("openssl speed ecdsap256 verify (best of %u): %.0f/s\n", rounds, best_verify);
	printf("tokens verified (best of %u): %.0f/s\n", rounds, best_tokens);
	printf("limit (%d ECDSA verifications per token): %.0f/s\n", SIGS_PER_TOKEN, limit);
	printf("chain validations during the run: %u\n",
			vd_trust_chain_validations(trust) - validations);
	printf("ratio: %.1f%% of the limit (goal >= 80%%)\n", 100.0 * best_tokens / limit);

	vd_read_result_free(res);
	vd_context_unref(ctx);
	vd_trust_unref(trust);
	return 0;
}
