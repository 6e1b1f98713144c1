/*
 * The floor of the crypto benchmarks: `openssl speed` run in the same
 * process tree and the same conditions as the measured code.  Shared by
 * bench-chip and bench-token.
 */
#ifndef VITALED_BENCH_SPEED_H
#define VITALED_BENCH_SPEED_H

/* ECDSA P-256 operations per second (wall clock, one process), from
 * `openssl speed -mr -elapsed -seconds N ecdsap256`: 0 or -errno. */
int bench_openssl_ecdsa_p256(unsigned int seconds, double *sign_per_s, double *verify_per_s);

/* The same in user CPU time (`openssl speed` without -elapsed): pure
 * computations compared this way hardly feel other load on the machine. */
int bench_openssl_ecdsa_p256_cpu(unsigned int seconds, double *sign_per_s,
		double *verify_per_s);

/* Monotonic wall clock in seconds. */
double bench_now(void);
/* User CPU time of this process in seconds (what openssl speed counts). */
double bench_cpu_now(void);

#endif
