/*
 * qrscan IMAGE...: for each image, one line "<hex of the QR bytes>" or
 * "error <errno name>: <reason>".  With -n N, decode every image N times
 * and print the mean microseconds per image on stderr (bench/).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vitaled-core.h"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	static uint8_t out[16384];
	long rounds = 1;
	int opt, i, status = 0;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt != 'n')
			return 2;
		rounds = strtol(optarg, NULL, 10);
		if (rounds < 1)
			return 2;
	}
	for (i = optind; i < argc; i++) {
		size_t len = 0, k;
		double t0 = now_us();
		long r;
		int err = 0;

		for (r = 0; r < rounds; r++)
			err = vd_qr_scan_file(argv[i], out, sizeof(out), &len);
		if (rounds > 1)
			fprintf(stderr, "%s %.1f\n", argv[i], (now_us() - t0) / rounds);
		if (err) {
			printf("error %s: %s\n", strerrorname_np(-err), vd_qr_strerror(err));
			status = 1;
			continue;
		}
		for (k = 0; k < len; k++)
			printf("%02x", out[k]);
		putchar('\n');
	}
	return status;
}
