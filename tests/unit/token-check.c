/*
 * Verify tokens the way the daemon does, replay cache included, for
 * tests/test-token.py:
 *   token-check TRUSTDIR REPLAYFILE|- NOW TOKEN...
 * One line per token: "<status> <reason>".  A new process is a restart
 * of the replay cache.  Exit 0 when every token was verified.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vitaled-core.h"

static void report(const char *path, const char *why, void *user_data)
{
	fprintf(stderr, "trust: %s: %s\n", path, why);
}

int main(int argc, char **argv)
{
	struct vd_replay *replay = NULL;
	struct vd_read_result *res;
	struct vd_context *ctx;
	struct vd_trust *trust;
	int i, ret, failed = 0;
	time_t now;

	if (argc < 5) {
		fprintf(stderr, "usage: token-check TRUSTDIR REPLAYFILE|- NOW TOKEN...\n");
		return 2;
	}
	now = (time_t)strtoll(argv[3], NULL, 10);
	ret = vd_trust_load(argv[1], report, NULL, &trust);
	if (ret) {
		fprintf(stderr, "trust: %s\n", strerror(-ret));
		return 2;
	}
	if (strcmp(argv[2], "-")) {
		ret = vd_replay_open(argv[2], 1024, &replay);
		if (ret) {
			fprintf(stderr, "replay: %s\n", strerror(-ret));
			return 2;
		}
		if (vd_replay_problem(replay))
			printf("# %s\n", vd_replay_problem(replay));
	}
	ctx = vd_context_new(trust, NULL);
	vd_trust_unref(trust);
	res = vd_read_result_new();
	if (!ctx || !res)
		return 2;
	for (i = 4; i < argc; i++) {
		vd_token_verify(ctx, replay, (const uint8_t *)argv[i], strlen(argv[i]),
				now, res);
		printf("%s %s\n", vd_status_name(res->verdict.status), res->verdict.reason);
		/* Data only ever comes with a verified verdict. */
		if (res->has_record != (res->verdict.status == VD_STATUS_VERIFIED)) {
			printf("# has_record does not match the verdict\n");
			failed = 1;
		}
		if (res->verdict.status != VD_STATUS_VERIFIED)
			failed = 1;
	}
	vd_read_result_free(res);
	vd_context_unref(ctx);
	vd_replay_close(replay);
	return failed;
}
