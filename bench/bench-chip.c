/*
 * Chip verifications per second — EF.SOD CMS verification, every data
 * group hash, active authentication — against the limit `openssl speed`
 * implies in the same run: a chip costs two ECDSA P-256 verifications
 * (the SOD signature and the chip's AA answer) once the signer chain is
 * cached, so the limit is verify/s ÷ 2.  Goal: at least 80 % of it.
 *
 *   bench/bench-chip [rounds]	(each: 1 s of openssl speed, 1 s of chips)
 */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/rand.h>

#include "../tests/unit/chipimg.h"
#include "speed.h"

#define PAIRS		32	/* challenge/answer pairs, signed before timing */
#define ECDSA_PER_CHIP	2

int main(int argc, char **argv)
{
	static uint8_t challenge[PAIRS][32], answer[PAIRS][64];
	unsigned int seconds = argc > 1 ? (unsigned int)atoi(argv[1]) : 5;
	double verify_sum = 0, verify, t0, elapsed = 0, rate, limit, parse_us;
	unsigned long n = 0;
	unsigned int i, round, validations;
	struct vd_read_result *res;
	struct vd_settings settings;
	struct vd_chip_image view;
	struct vd_context *ctx;
	struct vd_trust *trust;
	struct chipimg img;
	char dir[PATH_MAX + 16];
	time_t now = 1780272000;	/* 2026-06-01, inside every validity */

	setenv("top_srcdir", ABS_TOP_SRCDIR, 0);
	setenv("top_builddir", ABS_TOP_BUILDDIR, 0);
	if (seconds == 0)
		seconds = 5;
	snprintf(dir, sizeof(dir), "%s/trust.d", chipimg_pki());
	if (vd_trust_load(dir, NULL, NULL, &trust) < 0 ||
			chipimg_make(&img, "bench", "") < 0) {
		fprintf(stderr, "bench-chip: cannot set up the test PKI or the card image\n");
		return 1;
	}
	vd_settings_default(&settings);
	ctx = vd_context_new(trust, &settings);
	vd_trust_unref(trust);
	res = vd_read_result_new();
	for (i = 0; i < PAIRS; i++) {
		RAND_bytes(challenge[i], sizeof(challenge[i]));
		if (chipimg_sign(img.chip_key, challenge[i], 32, answer[i]) < 0)
			return 1;
	}

	/* first read: validates and caches the signer chain */
	chipimg_view(&img, VD_FORM_CARD, challenge[0], 32, answer[0], 64, &view);
	vd_chip_verify_image(ctx, &view, now, res);
	if (res->verdict.status != VD_STATUS_VERIFIED) {
		fprintf(stderr, "bench-chip: reference card not verified: %s\n", res->verdict.reason);
		return 1;
	}
	validations = vd_trust_chain_validations(vd_context_trust(ctx));

	/* Rounds of one second each, alternating with `openssl speed`, so a
	 * busy machine weighs on the floor and the measure alike. */
	for (round = 0; round < seconds; round++) {
		double sign, v, start;

		if (bench_openssl_ecdsa_p256(1, &sign, &v) < 0) {
			fprintf(stderr, "bench-chip: openssl speed failed\n");
			return 1;
		}
		verify_sum += v;
		start = bench_now();
		do {
			for (i = 0; i < 16; i++, n++) {
				unsigned int k = n % PAIRS;

				chipimg_view(&img, VD_FORM_CARD, challenge[k], 32, answer[k], 64,
						&view);
				vd_chip_verify_image(ctx, &view, now, res);
				if (res->verdict.status != VD_STATUS_VERIFIED) {
					fprintf(stderr, "bench-chip: verdict changed: %s\n",
							res->verdict.reason);
					return 1;
				}
			}
		} while (bench_now() - start < 1.0);
		elapsed += bench_now() - start;
	}

	/* Where the rest goes: OpenSSL's DER decoding of EF.SOD (the CMS and
	 * its embedded signer certificate, whose key OpenSSL 3.0 decodes on
	 * parse) is paid per chip and not by `openssl speed`. */
	t0 = bench_now();
	for (i = 0; i < 500; i++) {
		struct vd_sod sod;

		if (vd_sod_parse(img.files[CHIPIMG_SFI_SOD], img.lens[CHIPIMG_SFI_SOD], &sod,
					&res->verdict) < 0)
			return 1;
		vd_sod_clear(&sod);
	}
	parse_us = (bench_now() - t0) / 500 * 1e6;

	verify = verify_sum / seconds;
	rate = n / elapsed;
	limit = verify / ECDSA_PER_CHIP;
	printf("bench-chip: %lu chip verifications in %.2f s: %.1f/s "
			"(EF.SOD %zu B CMS, %u data groups hashed, AA)\n", n, elapsed, rate,
			img.lens[CHIPIMG_SFI_SOD], 5);
	printf("bench-chip: openssl speed ecdsap256 verify: %.1f/s (mean of %u one-second runs "
			"between the measures)\n", verify, seconds);
	printf("bench-chip: ECDSA verifications per chip: %d; signer chain validations in the "
			"timed loop: %u\n", ECDSA_PER_CHIP,
			vd_trust_chain_validations(vd_context_trust(ctx)) - validations);
	printf("bench-chip: per chip %.1f us, of which EF.SOD DER decoding in OpenSSL %.1f us and "
			"2 ECDSA verifications %.1f us\n", 1e6 / rate, parse_us,
			ECDSA_PER_CHIP * 1e6 / verify);
	printf("bench-chip: limit %.1f chips/s; ratio %.2f (goal >= 0.80)\n", limit, rate / limit);

	vd_read_result_free(res);
	vd_context_unref(ctx);
	chipimg_free(&img);
	return 0;
}
