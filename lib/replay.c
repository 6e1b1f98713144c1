/*
 * The replay cache: every token id accepted is remembered until the token
 * can no longer be accepted anyway, in a file of the state directory, so
 * a restart does not reopen the window.
 *
 * File (text, rewritten whole into a temporary file, fsync'd, renamed):
 *   vitaled-replay 2
 *   floor <unix time>            tokens issued before it count as seen
 *   horizon <unix time>          ids valid until before it were forgotten
 *   <id hex> <until unix time>   one line per remembered id
 * The horizon makes the cache safe against clock jumps: once the clock has
 * run past a token's end and its id was dropped, that token stays refused
 * even if the clock comes back (an older file, version 1, is rebuilt).
 * A file that does not parse is reported and rebuilt with floor = now:
 * we cannot know which ids it held, so every token issued before the
 * rebuild is refused (a phone simply makes a new one).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "internal.h"

#define REPLAY_MAGIC	"vitaled-replay 2"
#define REPLAY_ID_MAX	32
#define LINE_MAX_LEN	(REPLAY_ID_MAX * 2 + 1 + 20 + 2)

struct replay_entry {
	uint8_t id[REPLAY_ID_MAX];
	uint8_t len;
	time_t until;
};

struct vd_replay {
	pthread_mutex_t lock;
	char *path;
	char *tmp_path;
	char problem[128];
	time_t floor;
	time_t horizon;
	size_t max;
	size_t n;
	struct replay_entry *entries;
};

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

static int parse_time(const char *s, time_t *out)
{
	char *end;
	long long v;

	if (*s < '0' || *s > '9')
		return -EBADMSG;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end != '\n' || end[1])
		return -EBADMSG;
	*out = (time_t)v;
	return 0;
}

static int parse_entry(const char *line, struct replay_entry *e)
{
	const char *sp = strchr(line, ' ');
	size_t hexlen, i;

	if (!sp)
		return -EBADMSG;
	hexlen = (size_t)(sp - line);
	if (!hexlen || hexlen % 2 || hexlen / 2 > REPLAY_ID_MAX)
		return -EBADMSG;
	for (i = 0; i < hexlen / 2; i++) {
		int hi = hexval(line[2 * i]), lo = hexval(line[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EBADMSG;
		e->id[i] = (uint8_t)(hi << 4 | lo);
	}
	e->len = (uint8_t)(hexlen / 2);
	return parse_time(sp + 1, &e->until);
}

/* 0, -ENOENT (no file: a fresh cache), or -EBADMSG with the reason set. */
static int load(struct vd_replay *r)
{
	char line[LINE_MAX_LEN + 2];
	unsigned int lineno = 0;
	int ret = 0;
	FILE *f;

	f = fopen(r->path, "re");
	if (!f)
		return errno == ENOENT ? -ENOENT : -errno;
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);

		lineno++;
		if (!len || line[len - 1] != '\n') {
			ret = -EBADMSG;
			break;
		}
		if (lineno == 1) {
			if (strcmp(line, REPLAY_MAGIC "\n"))
				ret = -EBADMSG;
		} else if (lineno == 2) {
			if (strncmp(line, "floor ", 6) || parse_time(line + 6, &r->floor))
				ret = -EBADMSG;
		} else if (lineno == 3) {
			if (strncmp(line, "horizon ", 8) || parse_time(line + 8, &r->horizon))
				ret = -EBADMSG;
		} else if (r->n == r->max || parse_entry(line, &r->entries[r->n])) {
			ret = -EBADMSG;
		} else {
			r->n++;
		}
		if (ret)
			break;
	}
	if (!ret && (ferror(f) || lineno < 3))
		ret = -EBADMSG;
	fclose(f);
	if (ret == -EBADMSG)
		snprintf(r->problem, sizeof(r->problem),
				"replay cache %s is corrupt (line %u): rebuilt",
				r->path, lineno);
	return ret;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Whole new file next to the old one, then rename: a crash leaves either
 * the old or the new file, never half of one. */
static int persist(const struct vd_replay *r)
{
	char line[LINE_MAX_LEN + 1];
	size_t i, k;
	int fd, ret;

	fd = open(r->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	snprintf(line, sizeof(line), REPLAY_MAGIC "\nfloor %lld\nhorizon %lld\n",
			(long long)r->floor, (long long)r->horizon);
	ret = write_all(fd, line, strlen(line));
	for (i = 0; !ret && i < r->n; i++) {
		const struct replay_entry *e = &r->entries[i];
		char *p = line;

		for (k = 0; k < e->len; k++)
			p += sprintf(p, "%02x", e->id[k]);
		snprintf(p, sizeof(line) - (size_t)(p - line), " %lld\n",
				(long long)e->until);
		ret = write_all(fd, line, strlen(line));
	}
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && rename(r->tmp_path, r->path))
		ret = -errno;
	if (ret)
		unlink(r->tmp_path);
	return ret;
}

int vd_replay_open(const char *path, size_t max_entries, struct vd_replay **out)
{
	struct vd_replay *r;
	int ret;

	*out = NULL;
	if (!path || !max_entries || max_entries > SIZE_MAX / sizeof(struct replay_entry))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->max = max_entries;
	r->path = strdup(path);
	r->entries = calloc(max_entries, sizeof(*r->entries));
	if (r->path && asprintf(&r->tmp_path, "%s.tmp", path) < 0)
		r->tmp_path = NULL;
	if (!r->path || !r->tmp_path || !r->entries) {
		ret = -ENOMEM;
		goto fail;
	}
	pthread_mutex_init(&r->lock, NULL);

	ret = load(r);
	if (ret == -EBADMSG) {
		/* Nothing of a corrupt file is trusted: the floor alone guards. */
		r->n = 0;
		r->horizon = 0;
		r->floor = time(NULL);
		ret = persist(r);
	} else if (ret == -ENOENT) {
		ret = persist(r);
	}
	if (ret) {
		pthread_mutex_destroy(&r->lock);
		goto fail;
	}
	*out = r;
	return 0;
fail:
	free(r->entries);
	free(r->tmp_path);
	free(r->path);
	free(r);
	return ret;
}

void vd_replay_close(struct vd_replay *replay)
{
	if (!replay)
		return;
	pthread_mutex_destroy(&replay->lock);
	OPENSSL_cleanse(replay->entries, replay->max * sizeof(*replay->entries));
	free(replay->entries);
	free(replay->tmp_path);
	free(replay->path);
	free(replay);
}

const char *vd_replay_problem(const struct vd_replay *replay)
{
	return replay->problem[0] ? replay->problem : NULL;
}

int vd_replay_check_and_add(struct vd_replay *r, const uint8_t *id, size_t len,
		time_t issued, time_t until, time_t now)
{
	size_t i, kept = 0;
	int ret;

	if (!len || len > REPLAY_ID_MAX)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	if (issued < r->floor || until < r->horizon) {
		ret = -ESTALE;
		goto out;
	}
	for (i = 0; i < r->n; i++)
		if (r->entries[i].len == len && !memcmp(r->entries[i].id, id, len)) {
			ret = -EEXIST;
			goto out;
		}
	/* Forget what can no longer be accepted anyway — and remember that we
	 * did, in case the clock goes back. */
	for (i = 0; i < r->n; i++)
		if (r->entries[i].until >= now)
			r->entries[kept++] = r->entries[i];
	r->n = kept;
	if (now > r->horizon)
		r->horizon = now;
	/* Full of live ids: refusing is safe, forgetting one is not. */
	if (r->n == r->max) {
		ret = -ENOSPC;
		goto out;
	}
	memcpy(r->entries[r->n].id, id, len);
	r->entries[r->n].len = (uint8_t)len;
	r->entries[r->n].until = until;
	r->n++;
	ret = persist(r);
	if (ret) {
		r->n--;
		ret = -EIO;
	}
out:
	pthread_mutex_unlock(&r->lock);
	return ret;
}
