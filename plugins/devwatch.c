/*
 * Device nodes named in a plugin's Devices= list, found at start and
 * whenever they appear later.  An entry is an absolute path whose last
 * part may be a shell pattern (fnmatch), optionally followed by "=OPTION" (e.g. a
 * keyboard layout).  The directories holding them are watched with
 * inotify — or, while such a directory does not exist yet, its closest
 * existing ancestor — so nothing polls, and an unplugged device is found
 * again as soon as its node comes back.  The nodes a plugin opened
 * (struct devnode) share their bookkeeping here too.
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "plugins.h"

struct devwatch {
	const char *plugin;
	char *entries;		/* "pattern\0option\0" pairs */
	size_t entries_len;
	int fd;
	struct vitaled_watch *watch;
	devwatch_found_func found;
	void *user_data;
};

/* Watch the directory of a pattern, or its closest existing ancestor. */
static void watch_dir_of(struct devwatch *w, const char *pattern)
{
	char dir[PATH_MAX];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", pattern) >= (int)sizeof(dir))
		return;
	for (;;) {
		slash = strrchr(dir, '/');
		if (!slash)
			return;
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (inotify_add_watch(w->fd, dir, IN_CREATE | IN_MOVED_TO | IN_ATTRIB |
				IN_ONLYDIR) >= 0 || errno != ENOENT || slash == dir)
			return;
	}
}

/* Calls found() for the names in dir matching pattern (fnmatch). */
static void match_dir(struct devwatch *w, const char *pattern, const char *option)
{
	const char *slash = strrchr(pattern, '/');
	char dir[PATH_MAX], path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if ((size_t)(slash - pattern) >= sizeof(dir))
		return;
	memcpy(dir, pattern, (size_t)(slash - pattern));
	dir[slash - pattern] = '\0';
	d = opendir(dir[0] ? dir : "/");
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || fnmatch(slash + 1, de->d_name, FNM_PERIOD))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < (int)sizeof(path))
			w->found(path, option, w->user_data);
	}
	closedir(d);
}

void devwatch_rescan(struct devwatch *w)
{
	const char *p = w->entries;

	while (p < w->entries + w->entries_len) {
		const char *option = p + strlen(p) + 1;

		watch_dir_of(w, p);
		/* a plain path is simply tried: opening it says whether it is there */
		if (strpbrk(strrchr(p, '/'), "*?["))
			match_dir(w, p, *option ? option : NULL);
		else
			w->found(p, *option ? option : NULL, w->user_data);
		p = option + strlen(option) + 1;
	}
}

static void inotify_event(int fd, uint32_t events, void *user_data)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	/* the events only say "look again": drain them, then rescan */
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	devwatch_rescan(user_data);
}

/* "a, b=x" → "a\0\0b\0x\0" */
static int parse_entries(struct devwatch *w, const char *list)
{
	char *copy, *tok, *save = NULL, *out;

	copy = strdup(list);
	w->entries = malloc(2 * strlen(list) + 2);
	if (!copy || !w->entries) {
		free(copy);
		return -ENOMEM;
	}
	out = w->entries;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *option;

		tok += strspn(tok, " \t");
		tok[strcspn(tok, " \t")] = '\0';
		if (!*tok)
			continue;
		option = strchr(tok, '=');
		if (option)
			*option++ = '\0';
		if (tok[0] != '/') {
			vitaled_error("%s: Devices: '%s' is not an absolute path", w->plugin, tok);
			free(copy);
			return -EINVAL;
		}
		out = stpcpy(out, tok) + 1;
		out = stpcpy(out, option ? option : "") + 1;
	}
	w->entries_len = (size_t)(out - w->entries);
	free(copy);
	return 0;
}

void devwatch_free(struct devwatch *w)
{
	if (!w)
		return;
	if (w->watch)
		vitaled_watch_remove(w->watch);
	if (w->fd >= 0)
		close(w->fd);
	free(w->entries);
	free(w);
}

int devwatch_new(const char *plugin, const char *list, devwatch_found_func found,
		void *user_data, struct devwatch **out)
{
	struct devwatch *w;
	int err;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->plugin = plugin;
	w->found = found;
	w->user_data = user_data;
	w->fd = -1;
	err = parse_entries(w, list ? list : "");
	if (err < 0)
		goto fail;
	if (!w->entries_len) {
		vitaled_debug("%s: no Devices configured", plugin);
		*out = w;
		return 0;
	}
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		err = -errno;
		goto fail;
	}
	w->watch = vitaled_watch_add(w->fd, EPOLLIN, inotify_event, w);
	if (!w->watch) {
		err = -ENOMEM;
		goto fail;
	}
	*out = w;
	return 0;
fail:
	devwatch_free(w);
	return err;
}

struct devnode *devnode_find(struct devnode *list, const char *path)
{
	for (; list; list = list->next)
		if (!strcmp(list->path, path))
			return list;
	return NULL;
}

void devnode_free(struct devnode *dev)
{
	struct devnode **p;

	for (p = dev->list; *p; p = &(*p)->next) {
		if (*p == dev) {
			*p = dev->next;
			break;
		}
	}
	qr_line_abort(&dev->line, "scanner disconnected");
	if (dev->release)
		dev->release(dev);
	if (dev->watch)
		vitaled_watch_remove(dev->watch);
	if (dev->fd >= 0)
		close(dev->fd);
	if (dev->reader)
		vitaled_reader_remove(dev->reader);
	free(dev->path);
	free(dev);
}

void devnode_free_all(struct devnode **list)
{
	while (*list)
		devnode_free(*list);
}

struct devnode *devnode_add(struct devnode **list, size_t size, const char *plugin,
		const char *path, int fd, const char *name, enum vitaled_reader_kind kind,
		vitaled_watch_func event)
{
	char id[PATH_MAX + 16];
	struct devnode *dev;

	dev = calloc(1, size);
	if (!dev || !(dev->path = strdup(path))) {
		free(dev);
		close(fd);
		return NULL;
	}
	dev->fd = fd;
	dev->list = list;
	dev->next = *list;
	*list = dev;
	snprintf(id, sizeof(id), "%s-%s", plugin, path);
	dev->reader = vitaled_reader_add(id, name, kind);
	dev->watch = vitaled_watch_add(fd, EPOLLIN, event, dev);
	if (!dev->reader || !dev->watch) {
		vitaled_error("%s: cannot watch %s", plugin, path);
		devnode_free(dev);
		return NULL;
	}
	qr_line_init(&dev->line, dev->reader, (unsigned int)vitaled_config_int(plugin, "CodeGap"));
	return dev;
}
