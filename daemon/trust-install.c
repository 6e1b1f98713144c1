/*
 * Installed trust bundles (doc/formats.md section 14, doc/admin.md): every
 * bundle, from D-Bus (Manager1.InstallTrustBundle) or from the drop
 * directory, is verified here against the pinned trust-list roots, then
 * installed in $StateDirectory/trust/ and its store handed to the engine.
 *
 * Layout of trust/: one directory per version, vN/ (the members, the
 * signed bundle.der and a "source" line), and two symbolic links,
 * current and previous (the last good set).  A version directory is
 * complete and synced before it gets its name, and the switch is one
 * rename() of a link: a crash at any instant leaves the old set or the
 * new one in force, never a mix.  At start the set current names is
 * checked against its signed manifest (every member's hash), else the
 * previous one is used.
 *
 * The work (read, verify, write, sync, load the new store) runs in one
 * worker thread: the loop keeps serving, and reads in progress keep the
 * context they started with (engine.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <dbus/dbus.h>

#include "daemon.h"

#define BUNDLE_FILE	"bundle.der"
#define SOURCE_FILE	"source"
#define MAX_SOURCE	64
#define WHY_LEN		256

struct job {
	/* in: set on the loop */
	int fd;				/* the bundle, opened by whoever brought it */
	char source[MAX_SOURCE + 1];
	char drop_path[PATH_MAX];	/* "" unless from the drop directory */
	DBusMessage *call;		/* NULL unless from D-Bus */
	char state[PATH_MAX];		/* $StateDirectory/trust */
	char roots[PATH_MAX];
	uint64_t installed;
	unsigned int clock_skew;
	/* out: set by the worker */
	int err;			/* 0 installed, 1 already installed, -errno */
	char why[WHY_LEN];
	struct trust_bundle_info info;
	struct vd_trust *trust;
	uint64_t load_us;		/* vd_trust_load() of the new set */
	uint64_t total_us;		/* the whole job */
};

static struct {
	bool have;			/* a bundle is in force */
	struct trust_bundle_info info;
	char dir[PATH_MAX + 16];	/* its directory (for the engine) */
	char state[PATH_MAX];
	char last_error[WHY_LEN];
	pthread_t worker;
	bool busy;
	struct job *job;		/* the one in the worker */
	int inotify_fd;
	struct vitaled_watch *watch;
	char drop[PATH_MAX];
} st = { .inotify_fd = -1 };

/* ---- files ------------------------------------------------------------ */

static int write_file_at(int dfd, const char *name, const void *data, size_t len)
{
	size_t done = 0;
	int fd, err = 0;

	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, (const uint8_t *)data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		done += (size_t)n;
	}
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	return err;
}

static int sync_dir(int dfd)
{
	return fsync(dfd) < 0 ? -errno : 0;
}

/* Remove dfd/name and what it holds (one level: version directories
 * hold files only). */
static void remove_tree(int dfd, const char *name)
{
	DIR *d;
	struct dirent *e;
	int fd;

	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(fd, e->d_name, 0);
	closedir(d);
	unlinkat(dfd, name, AT_REMOVEDIR);
}

static void link_target(int dfd, const char *link, char *out, size_t len)
{
	ssize_t n = readlinkat(dfd, link, out, len - 1);

	out[n > 0 ? n : 0] = '\0';
}

/* Everything but what current and previous name: crashed attempts, old sets. */
static void remove_stale(int dfd)
{
	char cur[NAME_MAX + 1], prev[NAME_MAX + 1];
	struct dirent *e;
	DIR *d;
	int fd;

	link_target(dfd, "current", cur, sizeof(cur));
	link_target(dfd, "previous", prev, sizeof(prev));
	fd = dup(dfd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
				!strcmp(e->d_name, "current") || !strcmp(e->d_name, "previous") ||
				!strcmp(e->d_name, cur) || !strcmp(e->d_name, prev))
			continue;
		remove_tree(dfd, e->d_name);
	}
	closedir(d);
}

/* ---- verify ----------------------------------------------------------- */

static int load_roots(const char *dir, X509_STORE **roots, char *why, size_t why_len)
{
	unsigned int n = 0;
	int err = vd_bundle_roots_load(dir, roots, &n);

	if (err < 0) {
		snprintf(why, why_len, "cannot load the trust-list roots: %s", strerror(-err));
		return err;
	}
	if (n == 0) {
		X509_STORE_free(*roots);
		*roots = NULL;
		snprintf(why, why_len, "no trust-list root in %s: no bundle can be accepted", dir);
		return -EKEYREJECTED;
	}
	return 0;
}

static void fill_info(const struct vd_bundle *b, const char *source,
		struct trust_bundle_info *info)
{
	memset(info, 0, sizeof(*info));
	info->version = vd_bundle_version(b);
	info->issued = vd_bundle_issued(b);
	info->expires = vd_bundle_expires(b);
	snprintf(info->source, sizeof(info->source), "%s", source);
}

/* The files of an installed set are the members of its signed manifest,
 * byte for byte: no mix of two sets, no file damaged since. */
static int check_installed(int dfd, const char *name, const char *roots_dir,
		struct trust_bundle_info *info, char *why, size_t why_len)
{
	struct vd_bundle *b = NULL;
	X509_STORE *roots = NULL;
	uint8_t *der = NULL, *src = NULL;
	size_t der_len = 0, src_len = 0, i;
	int vfd, err;

	vfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (vfd < 0) {
		snprintf(why, why_len, "%.64s: %s", name, strerror(errno));
		return -errno;
	}
	err = vd_read_regular(vfd, BUNDLE_FILE, VD_BUNDLE_MAX_SIZE, &der, &der_len);
	if (err < 0) {
		snprintf(why, why_len, "%.64s/%s: %s", name, BUNDLE_FILE, strerror(-err));
		goto out;
	}
	err = load_roots(roots_dir, &roots, why, why_len);
	if (err < 0)
		goto out;
	/* Certificate times were checked when it was installed. */
	err = vd_bundle_parse(der, der_len, roots, 0, &b, why, why_len);
	if (err < 0)
		goto out;
	for (i = 0; i < vd_bundle_n_members(b); i++) {
		const struct vd_bundle_member *m = vd_bundle_member(b, i);
		uint8_t *data = NULL;
		size_t len = 0;

		err = vd_read_regular(vfd, m->name, VD_BUNDLE_MAX_MEMBER, &data, &len);
		if (!err && (len != m->len || CRYPTO_memcmp(data, m->data, len)))
			err = -EBADMSG;
		free(data);
		if (err < 0) {
			snprintf(why, why_len, "%.64s/%.64s does not match the bundle: %s", name,
					m->name, strerror(-err));
			goto out;
		}
	}
	if (vd_read_regular(vfd, SOURCE_FILE, MAX_SOURCE, &src, &src_len) < 0)
		src_len = 0;
	fill_info(b, "", info);
	if (src_len && src_len <= MAX_SOURCE)
		snprintf(info->source, sizeof(info->source), "%.*s", (int)src_len, (char *)src);
out:
	free(src);
	free(der);
	vd_bundle_free(b);
	X509_STORE_free(roots);
	close(vfd);
	return err;
}

/* ---- install (worker) --------------------------------------------------- */

static int write_set(int dfd, const char *tmp, const struct vd_bundle *b,
		const uint8_t *der, size_t der_len, const char *source)
{
	size_t i;
	int vfd, err;

	if (mkdirat(dfd, tmp, 0700) < 0)
		return -errno;
	vfd = openat(dfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (vfd < 0)
		return -errno;
	err = 0;
	for (i = 0; !err && i < vd_bundle_n_members(b); i++) {
		const struct vd_bundle_member *m = vd_bundle_member(b, i);

		err = write_file_at(vfd, m->name, m->data, m->len);
	}
	if (!err)
		err = write_file_at(vfd, SOURCE_FILE, source, strlen(source));
	if (!err)
		err = write_file_at(vfd, BUNDLE_FILE, der, der_len);
	if (!err)
		err = sync_dir(vfd);
	close(vfd);
	return err;
}

/* Point link at target by renaming a fresh link over it. */
static int switch_link(int dfd, const char *link, const char *target)
{
	char tmp[NAME_MAX + 1];

	snprintf(tmp, sizeof(tmp), ".%s.new", link);
	if (unlinkat(dfd, tmp, 0) < 0 && errno != ENOENT)
		return -errno;
	if (symlinkat(target, dfd, tmp) < 0 || renameat(dfd, tmp, dfd, link) < 0)
		return -errno;
	return 0;
}

static int install_set(struct job *job, const struct vd_bundle *b, const uint8_t *der,
		size_t der_len)
{
	char name[32], tmp[64], old[NAME_MAX + 1];
	int dfd, err;

	dfd = open(job->state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	snprintf(name, sizeof(name), "v%" PRIu64, job->info.version);
	snprintf(tmp, sizeof(tmp), ".new-%s", name);
	/* Leftovers of an attempt that crashed before its switch. */
	remove_tree(dfd, tmp);
	remove_tree(dfd, name);
	err = write_set(dfd, tmp, b, der, der_len, job->source);
	if (!err && renameat(dfd, tmp, dfd, name) < 0)
		err = -errno;
	if (!err)
		err = sync_dir(dfd);
	if (err) {
		remove_tree(dfd, tmp);
		close(dfd);
		return err;
	}
	link_target(dfd, "current", old, sizeof(old));
	if (old[0])
		err = switch_link(dfd, "previous", old);
	if (!err)
		err = switch_link(dfd, "current", name);
	if (!err)
		err = sync_dir(dfd);
	if (err)
		remove_tree(dfd, name);
	else
		remove_stale(dfd);
	close(dfd);
	return err;
}

static void report_file(const char *path, const char *why, void *user_data)
{
	vitaled_warn("trust: %s not used: %s", path, why);
}

static const char *storage_words(int err)
{
	switch (-err) {
	case ENOSPC:
	case EDQUOT:
		return "the state directory is full";
	case EROFS:
		return "the state directory is read-only";
	case EACCES:
	case EPERM:
		return "the state directory is not writable";
	default:
		return strerror(-err);
	}
}

static void run_job(struct job *job)
{
	struct vd_bundle *b = NULL;
	X509_STORE *roots = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	char dir[PATH_MAX + 16];
	uint64_t start = engine_monotonic_us(), load;
	int err;

	err = vd_read_fd(job->fd, VD_BUNDLE_MAX_SIZE, &der, &der_len);
	if (!err && der_len == 0)
		err = -ENODATA;
	if (err < 0) {
		snprintf(job->why, sizeof(job->why), "cannot read the bundle: %s",
				err == -ENODATA ? "empty file" : err == -EFBIG ?
				"larger than a bundle may be" : vd_open_strerror(err));
		job->err = err == -ENOMEM ? err : -EBADMSG;
		free(der);
		return;
	}
	err = load_roots(job->roots, &roots, job->why, sizeof(job->why));
	if (!err)
		err = vd_bundle_parse(der, der_len, roots, time(NULL), &b, job->why,
				sizeof(job->why));
	if (!err) {
		fill_info(b, job->source, &job->info);
		err = vd_bundle_check(b, job->installed, time(NULL), job->clock_skew, job->why,
				sizeof(job->why));
	}
	if (!err) {
		err = install_set(job, b, der, der_len);
		if (err < 0) {
			snprintf(job->why, sizeof(job->why), "cannot install version %" PRIu64
					": %s; the trust material in force stays",
					job->info.version, storage_words(err));
			/* one D-Bus error for storage; the text says which */
			err = err == -ENOSPC || err == -EDQUOT ? -ENOSPC : -EROFS;
		}
	}
	if (!err) {
		snprintf(dir, sizeof(dir), "%s/current", job->state);
		load = engine_monotonic_us();
		err = vd_trust_load(dir, report_file, NULL, &job->trust);
		job->load_us = engine_monotonic_us() - load;
		if (err < 0)
			snprintf(job->why, sizeof(job->why), "cannot load the new set: %s",
					strerror(-err));
	}
	job->err = err;
	vd_bundle_free(b);
	X509_STORE_free(roots);
	free(der);
	job->total_us = engine_monotonic_us() - start;
}

/* ---- loop side ---------------------------------------------------------- */

static void drop_scan(void);

static void job_free(struct job *job)
{
	if (job->fd >= 0)
		close(job->fd);
	if (job->call)
		dbus_message_unref(job->call);
	vd_trust_unref(job->trust);
	free(job);
}

static void job_done(void *user_data)
{
	struct job *job = user_data;
	uint64_t start = engine_monotonic_us();

	pthread_join(st.worker, NULL);
	st.busy = false;
	st.job = NULL;
	/* Gone before the outcome is told: whoever waits for it may look. */
	if (job->drop_path[0] && unlink(job->drop_path) < 0 && errno != ENOENT) {
		vitaled_error("trust: cannot remove %s: %s; the drop directory is no longer "
				"watched", job->drop_path, strerror(errno));
		st.drop[0] = '\0';
	}
	if (job->err == 0) {
		st.have = true;
		st.info = job->info;
		snprintf(st.dir, sizeof(st.dir), "%s/current", job->state);
		engine_set_trust(job->trust, st.dir, job->load_us);
		st.last_error[0] = '\0';
		/* The worker's time is nobody's wait; the loop's switch is. */
		vitaled_info("trust: bundle version %" PRIu64 " from %s installed (worker %llu us, "
				"loop %llu us)", job->info.version, job->source,
				(unsigned long long)job->total_us,
				(unsigned long long)(engine_monotonic_us() - start));
	} else if (job->err == 1) {
		st.last_error[0] = '\0';
		vitaled_info("trust: bundle from %s: %s; nothing to do", job->source, job->why);
	} else {
		snprintf(st.last_error, sizeof(st.last_error), "%s", job->why);
		vitaled_warn("trust: bundle from %s refused: %s", job->source, job->why);
	}
	if (job->call) {
		dbus_uint64_t version = st.have ? st.info.version : 0;

		if (job->err >= 0) {
			DBusMessage *reply = dbus_message_new_method_return(job->call);

			if (reply && !dbus_message_append_args(reply, DBUS_TYPE_UINT64, &version,
						DBUS_TYPE_INVALID)) {
				dbus_message_unref(reply);
				reply = NULL;
			}
			bus_reply(job->call, reply);
		} else {
			bus_reply(job->call, bus_error_reply(job->call, job->err, NULL, job->why));
		}
	}
	dbus_service_manager_props_changed();
	job_free(job);
	drop_scan();
}

static void *worker(void *data)
{
	struct job *job = data;

	run_job(job);
	/* Refused only at shutdown: trust_install_cleanup() frees the job. */
	vitaled_post(job_done, job);
	return NULL;
}

/* Start installing the bundle open on fd (taken); -EBUSY while another runs. */
static int start_job(int fd, const char *source, const char *drop_path, DBusMessage *call)
{
	const char *state = engine_state_directory();
	struct job *job;
	size_t i;

	if (st.busy) {
		close(fd);
		return -EBUSY;
	}
	job = calloc(1, sizeof(*job));
	if (!job) {
		close(fd);
		return -ENOMEM;
	}
	job->fd = fd;
	/* The source is shown to every client: printable ASCII only. */
	snprintf(job->source, sizeof(job->source), "%s", source);
	for (i = 0; job->source[i]; i++)
		if (job->source[i] < 0x20 || job->source[i] >= 0x7f)
			job->source[i] = '?';
	snprintf(job->drop_path, sizeof(job->drop_path), "%s", drop_path ? drop_path : "");
	snprintf(job->state, sizeof(job->state), "%s/trust", state);
	snprintf(job->roots, sizeof(job->roots), "%s",
			vitaled_config_string("Trust", "ListRootDirectory"));
	job->installed = st.have ? st.info.version : 0;
	job->clock_skew = (unsigned int)vitaled_config_int("Tokens", "ClockSkew");
	job->call = call ? dbus_message_ref(call) : NULL;
	if (pthread_create(&st.worker, NULL, worker, job)) {
		job->call = NULL;
		if (call)
			dbus_message_unref(call);
		job_free(job);
		return -EAGAIN;
	}
	st.busy = true;
	st.job = job;
	return 0;
}

int trust_install_call(DBusMessage *call)
{
	const char *source = NULL;
	char text[MAX_SOURCE + 16];
	int fd = -1, err;

	if (!dbus_message_get_args(call, NULL, DBUS_TYPE_UNIX_FD, &fd,
				DBUS_TYPE_STRING, &source, DBUS_TYPE_INVALID))
		return -EINVAL;
	snprintf(text, sizeof(text), "%.*s", MAX_SOURCE - 5, source[0] ? source : "D-Bus");
	err = start_job(fd, text, NULL, call);
	return err;
}

/* ---- the drop directory ------------------------------------------------- */

static bool is_bundle_name(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 7 && !strcmp(name + n - 7, ".bundle");
}

/* One *.bundle file at a time, oldest name first among those present. */
static void drop_scan(void)
{
	struct dirent **names = NULL;
	char path[PATH_MAX], source[MAX_SOURCE + 1];
	int n, i, fd;

	if (st.busy || !st.drop[0])
		return;
	n = scandir(st.drop, &names, NULL, alphasort);
	for (i = 0; i < n; i++) {
		const char *name = names[i]->d_name;

		if (!st.busy && is_bundle_name(name) &&
				snprintf(path, sizeof(path), "%s/%s", st.drop, name) < (int)sizeof(path)) {
			snprintf(source, sizeof(source), "drop:%.*s", MAX_SOURCE - 5, name);
			fd = vd_open_regular(AT_FDCWD, path, NULL);
			if (fd < 0) {
				vitaled_warn("trust: %s: %s; removed", path, vd_open_strerror(fd));
				snprintf(st.last_error, sizeof(st.last_error), "%s: %s", source,
						vd_open_strerror(fd));
				unlink(path);
				dbus_service_manager_props_changed();
				continue;
			}
			vitaled_info("trust: installing %s", path);
			if (start_job(fd, source, path, NULL) < 0)
				vitaled_error("trust: cannot start installing %s", path);
		}
		free(names[i]);
	}
	free(names);
}

static void drop_event(int fd, uint32_t events, void *user_data)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	/* What changed does not matter: the directory is scanned. */
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	drop_scan();
}

static void drop_watch(void)
{
	const char *dir = vitaled_config_string("Trust", "DropDirectory");

	snprintf(st.drop, sizeof(st.drop), "%s", dir ? dir : "");
	if (!st.drop[0])
		return;
	st.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (st.inotify_fd < 0 ||
			inotify_add_watch(st.inotify_fd, st.drop, IN_MOVED_TO | IN_ONLYDIR) < 0) {
		vitaled_warn("trust: cannot watch the drop directory %s: %s; bundles are only "
				"installed through D-Bus", st.drop, strerror(errno));
		if (st.inotify_fd >= 0)
			close(st.inotify_fd);
		st.inotify_fd = -1;
		st.drop[0] = '\0';
		return;
	}
	st.watch = vitaled_watch_add(st.inotify_fd, EPOLLIN, drop_event, NULL);
}

/* ---- start, state, stop --------------------------------------------------- */

int trust_install_init(void)
{
	const char *roots = vitaled_config_string("Trust", "ListRootDirectory");
	char why[WHY_LEN];
	static const char *const links[] = { "current", "previous" };
	unsigned int i;
	int dfd;

	snprintf(st.state, sizeof(st.state), "%s/trust", engine_state_directory());
	if (mkdir(st.state, 0700) < 0 && errno != EEXIST) {
		vitaled_warn("trust: cannot create %s: %s", st.state, strerror(errno));
		return 0;
	}
	dfd = open(st.state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0;
	for (i = 0; i < 2 && !st.have; i++) {
		char target[NAME_MAX + 1];

		link_target(dfd, links[i], target, sizeof(target));
		if (!target[0])
			continue;
		if (check_installed(dfd, target, roots, &st.info, why, sizeof(why)) < 0) {
			vitaled_error("trust: installed set %s (%s) not used: %s", target,
					links[i], why);
			continue;
		}
		st.have = true;
		snprintf(st.dir, sizeof(st.dir), "%s/current", st.state);
		if (i == 1)	/* current is broken: previous becomes current */
			switch_link(dfd, "current", target);
	}
	remove_stale(dfd);
	close(dfd);
	return 0;
}

void trust_install_start(void)
{
	drop_watch();
	drop_scan();
}

const char *trust_install_dir(void)
{
	return st.have ? st.dir : NULL;
}

const struct trust_bundle_info *trust_bundle_installed(void)
{
	return st.have ? &st.info : NULL;
}

const char *trust_install_last_error(void)
{
	return st.last_error;
}

void trust_install_cleanup(void)
{
	if (st.busy) {
		pthread_join(st.worker, NULL);
		/* its post was refused: the loop has stopped */
		if (st.job)
			job_free(st.job);
		st.busy = false;
		st.job = NULL;
	}
	if (st.watch)
		vitaled_watch_remove(st.watch);
	st.watch = NULL;
	if (st.inotify_fd >= 0)
		close(st.inotify_fd);
	st.inotify_fd = -1;
}
