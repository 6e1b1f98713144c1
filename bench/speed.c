/* The `openssl speed` floor shared by the benchmarks: see speed.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "speed.h"

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int run_speed(unsigned int seconds, bool elapsed, double *sign_per_s,
		double *verify_per_s)
{
	char cmd[128], line[256];
	bool found = false;
	FILE *p;

	/* -mr: machine-readable "+F4:<index>:<bits>:<sign/s>:<verify/s>";
	 * -elapsed: wall clock, like the measured loops; without it, user
	 * CPU time (bench_cpu_now()). */
	snprintf(cmd, sizeof(cmd), "openssl speed -mr %s-seconds %u ecdsap256 2>/dev/null",
			elapsed ? "-elapsed " : "", seconds);
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

int bench_openssl_ecdsa_p256(unsigned int seconds, double *sign_per_s, double *verify_per_s)
{
	return run_speed(seconds, true, sign_per_s, verify_per_s);
}

int bench_openssl_ecdsa_p256_cpu(unsigned int seconds, double *sign_per_s,
		double *verify_per_s)
{
	return run_speed(seconds, false, sign_per_s, verify_per_s);
}

double bench_cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
}
