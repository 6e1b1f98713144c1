/*
 * bench-rss-floor TRUST_DIR LIBRARY...: the floor of the sys benchmark's
 * idle memory.  It maps the libraries given (bench-sys.py passes every
 * shared library the idle daemon has mapped, read from its
 * /proc/PID/maps) and loads TRUST_DIR with the daemon's own code and
 * settings (lib/trust.c through vd_trust_load and vd_context_new, OpenSSL
 * initialised as daemon/engine.c does), then does nothing: it prints
 * "ready" and waits for its stdin to close.  What the daemon has above
 * this process is its own: the loop, D-Bus, the readers, their threads.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "vitaled-core.h"

static void report(const char *path, const char *why, void *user_data)
{
	fprintf(stderr, "bench-rss-floor: %s not used: %s\n", path, why);
}

int main(int argc, char **argv)
{
	struct vd_settings settings;
	struct vd_trust *trust = NULL;
	struct vd_context *ctx;
	int i, err;

	if (argc < 2) {
		fprintf(stderr, "usage: bench-rss-floor TRUST_DIR LIBRARY...\n");
		return 2;
	}
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS, NULL);
	for (i = 2; i < argc; i++) {
		if (!dlopen(argv[i], RTLD_NOW | RTLD_GLOBAL)) {
			fprintf(stderr, "bench-rss-floor: %s\n", dlerror());
			return 1;
		}
	}
	err = vd_trust_load(argv[1], report, NULL, &trust);
	if (err < 0) {
		fprintf(stderr, "bench-rss-floor: cannot load %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	vd_settings_default(&settings);
	ctx = vd_context_new(trust, &settings);
	vd_trust_unref(trust);
	if (!ctx) {
		fprintf(stderr, "bench-rss-floor: no engine context\n");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (getchar() != EOF)
		;
	vd_context_unref(ctx);
	return 0;
}
