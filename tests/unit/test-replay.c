/* The persistent replay cache: restarts, expiry, bounds, corrupt files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "tap.h"

static char dir[] = "/tmp/vd-replay-XXXXXX";
static char path[64];

static void write_file(const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	if (!f || fwrite(text, 1, len, f) != len || fclose(f))
		abort();
}

static const uint8_t *id(int n)
{
	static uint8_t b[16];

	memset(b, 0, sizeof(b));
	b[0] = (uint8_t)n;
	b[15] = 0xA5;
	return b;
}

int main(void)
{
	time_t now = 2000000000;
	struct vd_replay *r;
	int i;

	if (!mkdtemp(dir))
		return 99;
	snprintf(path, sizeof(path), "%s/replay", dir);

	tap_is(vd_replay_open(path, 3, &r), 0, "a missing file is a fresh cache");
	tap_ok(!vd_replay_problem(r), "no problem reported");
	tap_ok(access(path, F_OK) == 0, "file created at once");
	tap_is(vd_replay_check_and_add(r, id(1), 16, now, now + 60, now), 0, "id 1 accepted");
	tap_is(vd_replay_check_and_add(r, id(1), 16, now, now + 60, now + 1), -EEXIST,
			"id 1 again: seen");
	tap_is(vd_replay_check_and_add(r, id(2), 16, now, now + 60, now), 0, "id 2 accepted");
	tap_is(vd_replay_check_and_add(r, id(3), 16, now, now + 10, now), 0, "id 3 accepted");
	tap_is(vd_replay_check_and_add(r, id(4), 16, now, now + 60, now), -ENOSPC,
			"full of live ids: refused, nothing forgotten");
	vd_replay_close(r);

	tap_is(vd_replay_open(path, 3, &r), 0, "reopened (a restart)");
	tap_ok(!vd_replay_problem(r), "clean file: no problem");
	for (i = 1; i <= 3; i++)
		tap_is(vd_replay_check_and_add(r, id(i), 16, now, now + 60, now + 5), -EEXIST,
				"id %d still seen after the restart", i);
	tap_is(vd_replay_check_and_add(r, id(4), 16, now, now + 60, now + 11), 0,
			"id 3's time is over: room for id 4");
	tap_is(vd_replay_check_and_add(r, id(3), 8, now, now + 120, now + 61), 0,
			"ids of another length are other ids (1 and 2 over: room)");
	tap_is(vd_replay_check_and_add(r, id(5), 0, now, now + 60, now), -EINVAL, "empty id");
	tap_is(vd_replay_check_and_add(r, id(5), 33, now, now + 60, now), -EINVAL,
			"id longer than 32 bytes");
	tap_is(vd_replay_check_and_add(r, id(6), 16, now, now + 120, now + 61), 0, "id 6 accepted");
	vd_replay_close(r);

	tap_is(vd_replay_open(path, 1, &r), 0, "reopened with a smaller bound");
	tap_ok(vd_replay_problem(r) != NULL, "more entries than the bound: reported");
	tap_is(vd_replay_check_and_add(r, id(9), 16, time(NULL) - 1, now + 60, now), -ESTALE,
			"after a rebuild, tokens issued before it are refused");
	tap_is(vd_replay_check_and_add(r, id(9), 16, time(NULL) + 100, now + 60, now), 0,
			"and newer ones accepted");
	vd_replay_close(r);
	tap_is(vd_replay_open(path, 1, &r), 0, "rebuilt file reopens");
	tap_ok(!vd_replay_problem(r), "cleanly");
	tap_is(vd_replay_check_and_add(r, id(8), 16, time(NULL) - 1, now + 60, now), -ESTALE,
			"the rebuild floor survives the restart");
	vd_replay_close(r);

	write_file("vitaled-replay 2\nfloor 0\nhorizon 0\n0102 5\n", 42);
	tap_is(vd_replay_open(path, 2, &r), 0, "hand-written file");
	tap_ok(!vd_replay_problem(r), "parses");
	tap_is(vd_replay_check_and_add(r, (const uint8_t *)"\x01\x02", 2, 10, 20, 4), -EEXIST,
			"its id is seen");
	vd_replay_close(r);

	{
		static const char *const bad[] = {
			"vitaled-replay 2\nfloor 0\n",
			"vitaled-replay 1\nfloor 0\n0102 5\n",
			/* well-formed but for the first line */
			"vitaled-replay 1\nfloor 0\nhorizon 0\n0102 5\n",
			"vitaled-replay 22\nfloor 0\nhorizon 0\n",
			"vitaled-replay 2\n",
			"vitaled-replay 2\nfloor -5\nhorizon 0\n",
			"vitaled-replay 2\nfloor 0\nhorizon x\n",
			"vitaled-replay 2\nfloor 0\nhorizon 0\n0102 5",
			"vitaled-replay 2\nfloor 0\nhorizon 0\n0102\n",
			"vitaled-replay 2\nfloor 0\nhorizon 0\n010 5\n",
			"vitaled-replay 2\nfloor 0\nhorizon 0\n01GG 5\n",
			"vitaled-replay 2\nfloor 0\nhorizon 0\n0102 5x\n",
			"vitaled-replay 2\nfloor 0\nhorizon 0\n 5\n",
			"vitaled-replay 2\nfloor 99999999999999999999999\nhorizon 0\n",
		};
		size_t k;

		for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			write_file(bad[k], strlen(bad[k]));
			r = NULL;
			tap_ok(vd_replay_open(path, 4, &r) == 0 && vd_replay_problem(r),
					"corrupt file %zu reported and rebuilt", k);
			vd_replay_close(r);
		}
		write_file("vitaled-replay 2\nfloor 0\nhorizon 0\n\0\n", 37);
		tap_ok(vd_replay_open(path, 4, &r) == 0 && vd_replay_problem(r),
				"a NUL byte in the file");
		vd_replay_close(r);
	}

	/* The clock runs past a token's end (its id is forgotten), then goes
	 * back: the token must stay refused, across a restart too. */
	unlink(path);
	tap_is(vd_replay_open(path, 4, &r), 0, "fresh cache for the clock test");
	tap_is(vd_replay_check_and_add(r, id(1), 16, now, now + 10, now), 0, "token accepted");
	tap_is(vd_replay_check_and_add(r, id(2), 16, now + 100, now + 160, now + 100), 0,
			"the clock jumps past its end: another token, the first id forgotten");
	tap_is(vd_replay_check_and_add(r, id(1), 16, now, now + 10, now + 5), -ESTALE,
			"the clock comes back: the first token is still refused");
	tap_is(vd_replay_check_and_add(r, id(3), 16, now, now + 20, now + 5), -ESTALE,
			"and so is any token that ends before the horizon");
	vd_replay_close(r);
	tap_is(vd_replay_open(path, 4, &r), 0, "reopened");
	tap_is(vd_replay_check_and_add(r, id(1), 16, now, now + 10, now + 5), -ESTALE,
			"the horizon survives a restart");
	tap_is(vd_replay_check_and_add(r, id(4), 16, now + 100, now + 200, now + 101), 0,
			"tokens ending after the horizon are accepted");
	vd_replay_close(r);

	snprintf(path, sizeof(path), "%s/missing/replay", dir);
	tap_is(vd_replay_open(path, 4, &r), -ENOENT, "a directory that does not exist");
	tap_is(vd_replay_open(NULL, 4, &r), -EINVAL, "no path");

	snprintf(path, sizeof(path), "%s/replay", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/replay.tmp", dir);
	unlink(path);
	rmdir(dir);
	return tap_done();
}
