/* The `openssl speed` floor shared by the benchmarks: see speed.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "speed.h"

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int bench_openssl_ecdsa_p256(unsigned int seconds, double *sign_per_s, double *verify_per_s)
{
	char cmd[128], line[256];
	bool found = false;
	FILE *p;

	/* -mr: machine-readable "+F4:<index>:<bits>:<sign/s>:<verify/s>";
	 * -elapsed: wall clock, like the measured loops. */
	snprintf(cmd, sizeof(cmd), "openssl speed -mr -elapsed -seconds %u ecdsap256 2>/dev/null",
			seconds);
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	while (fgets(line, sizeof(line), p)) {
		unsigned int idx, bits;
		double s, v;

		if (sscanf(line, "+F4:%u:%u:%lf:%lf", &idx, &bits, &s, &v) == 4 && bits == 256) {
			*sign_per_s = s;
			*verify_per_s = v;
			found = true;
		}
	}
	if (pclose(p) != 0 || !found || *verify_per_s <= 0)
		return -EIO;
	return 0;
}
