/*
 * bench-qr-image TRUST_DIR ROUNDS IMAGE...: mean microseconds per image for
 * decoding (lib/qrimage.c) and for decoding + verifying the token (the
 * engine, no replay cache so rounds can repeat), in this process.
 * bench-qr-image TRUST_DIR 1 --text FILE CACHE: microseconds to verify each
 * line of FILE (a token text) once, with the persistent replay cache at
 * CACHE as the daemon does: the floor of the serial scan latency.
 * Output: "image <decode us> <decode+verify us> <status> <path>" per image,
 * "text <verify us> <status>" per line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vitaled-core.h"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void report(const char *path, const char *why, void *user_data)
{
	fprintf(stderr, "bench-qr-image: %s: %s\n", path, why);
}

static int verify(struct vd_context *ctx, struct vd_replay *replay, const uint8_t *text,
		size_t len)
{
	struct vd_read_result *res = vd_read_result_new();
	int status;

	if (!res)
		return -ENOMEM;
	vd_token_verify(ctx, replay, text, len, time(NULL), res);
	status = (int)res->verdict.status;
	vd_read_result_free(res);
	return status;
}

static int bench_text(struct vd_context *ctx, const char *file, const char *cache)
{
	static char line[16384];
	struct vd_replay *replay;
	FILE *f;

	if (vd_replay_open(cache, 100000, &replay) < 0)
		return 1;
	f = fopen(file, "re");
	if (!f) {
		perror(file);
		vd_replay_close(replay);
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t len = strcspn(line, "\r\n");
		double t0 = now_us();
		int status = verify(ctx, replay, (const uint8_t *)line, len);

		printf("text %.1f %s\n", now_us() - t0, vd_status_name(status));
	}
	fclose(f);
	vd_replay_close(replay);
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t out[16384];
	struct vd_settings settings;
	struct vd_context *ctx;
	struct vd_trust *trust;
	long rounds;
	int i;

	if (argc < 4) {
		fprintf(stderr, "usage: bench-qr-image TRUST_DIR ROUNDS IMAGE...|--text FILE CACHE\n");
		return 2;
	}
	rounds = strtol(argv[2], NULL, 10);
	if (rounds < 1 || vd_trust_load(argv[1], report, NULL, &trust) < 0)
		return 2;
	vd_settings_default(&settings);
	ctx = vd_context_new(trust, &settings);
	vd_trust_unref(trust);
	if (!ctx)
		return 2;
	if (!strcmp(argv[3], "--text") && argc == 6) {
		i = bench_text(ctx, argv[4], argv[5]);
		vd_context_unref(ctx);
		return i;
	}
	for (i = 3; i < argc; i++) {
		double t0, t1, t2;
		size_t len = 0;
		int err = 0, status = 0;
		long r;

		t0 = now_us();
		for (r = 0; r < rounds; r++)
			err = vd_qr_scan_file(argv[i], out, sizeof(out), &len);
		t1 = now_us();
		for (r = 0; r < rounds && !err; r++) {
			err = vd_qr_scan_file(argv[i], out, sizeof(out), &len);
			status = verify(ctx, NULL, out, len);
		}
		t2 = now_us();
		if (err) {
			printf("error %s %s\n", vd_qr_strerror(err), argv[i]);
			continue;
		}
		printf("image %.1f %.1f %s %s\n", (t1 - t0) / rounds, (t2 - t1) / rounds,
				vd_status_name(status), argv[i]);
	}
	vd_context_unref(ctx);
	return 0;
}
