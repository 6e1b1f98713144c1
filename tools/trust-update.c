/*
 * vitaled-trust-update: fetch the trust bundle over HTTPS and hand it to the
 * daemon through its drop directory (doc/admin.md, "Keeping trust material
 * fresh").  Run by vitaled-trust-update.timer.
 *
 * It verifies nothing that matters: the daemon does.  It only keeps the
 * transfer bounded (https only, size, time), skips what did not change
 * (ETag / Last-Modified kept in its state directory), refuses what is
 * plainly not a bundle, makes the file appear whole in the drop directory
 * (O_TMPFILE, then rename) and reports what the daemon made of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libintl.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <dbus/dbus.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/objects.h>

#include <vitaled/dbus.h>
#include <vitaled/plugin.h>
#include "vitaled-core.h"
#include "internal.h"
#include "trust-update-conf.h"

#define DEFAULT_CONFIG		CONFIGDIR "/vitaled.conf"
#define _(s)			gettext(s)
#define DEFAULT_DROPDIR		STATEDIR "/trust-incoming"
#define DEFAULT_STATEDIR	UPDATESTATEDIR
#define BUNDLE_NAME		"vitaled-trust-update.bundle"
#define VALIDATORS_NAME		"validators"
/* ETag and Last-Modified are short; a longer one is not kept. */
#define MAX_VALIDATOR		256

/* Exit codes: doc/admin.md and vitaled-trust-update(8) list them. */
enum {
	EXIT_INSTALLED = 0,
	EXIT_FAILURE_OTHER = 1,
	EXIT_NOT_MODIFIED = 10,
	EXIT_NOT_CONFIGURED = 11,
	EXIT_QUEUED = 12,
	EXIT_SERVER_DOWN = 20,
	EXIT_TIMEOUT = 21,
	EXIT_TOO_LARGE = 22,
	EXIT_TRUNCATED = 23,
	EXIT_NOT_BUNDLE = 24,
	EXIT_HTTP_ERROR = 25,
	EXIT_TLS = 26,
	EXIT_NOT_HTTPS = 27,
	EXIT_DROP_DIR = 30,
	EXIT_REFUSED = 31,
	EXIT_NO_OUTCOME = 32,
	EXIT_CONFIG = 78,
};

struct settings {
	char url[2048];
	char ca_file[PATH_MAX];
	char drop_dir[PATH_MAX];
	long max_size, connect_timeout, timeout, low_speed_limit, low_speed_time;
	long install_timeout;
};

struct download {
	int fd;
	curl_off_t received, max;
	int write_errno;	/* the drop directory's write failed */
	bool too_large;
};

static int outcome(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One line per outcome, on stdout for success and stderr otherwise: the
 * journal keeps both, the exit code says which it was. */
static int outcome(int code, const char *fmt, ...)
{
	FILE *out = code == EXIT_INSTALLED || code == EXIT_NOT_MODIFIED ||
		    code == EXIT_NOT_CONFIGURED || code == EXIT_QUEUED ? stdout : stderr;
	va_list ap;

	fputs("vitaled-trust-update: ", out);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
	fflush(out);
	return code;
}

/* ---- configuration ---------------------------------------------------- */

struct conf_read {
	struct settings *s;
	bool in_update, in_trust;
};

static int set_long(struct vd_ini_parser *p, const struct vitaled_option *opt,
		const char *value, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (errno || end == value || *end)
		return vd_ini_error(p, "%s: '%s' is not a whole number", opt->key, value);
	if (v < opt->min || v > opt->max)
		return vd_ini_error(p, "%s: %ld is out of range (%ld to %ld)",
				opt->key, v, opt->min, opt->max);
	*out = v;
	return 0;
}

static int set_string(struct vd_ini_parser *p, const char *key, const char *value,
		char *dst, size_t size)
{
	if (strlen(value) >= size)
		return vd_ini_error(p, "%s: value too long", key);
	memcpy(dst, value, strlen(value) + 1);
	return 0;
}

static long *long_setting(struct settings *s, const char *key)
{
	static const struct {
		const char *key;
		size_t offset;
	} fields[] = {
		{ "MaxSize", offsetof(struct settings, max_size) },
		{ "ConnectTimeout", offsetof(struct settings, connect_timeout) },
		{ "Timeout", offsetof(struct settings, timeout) },
		{ "LowSpeedLimit", offsetof(struct settings, low_speed_limit) },
		{ "LowSpeedTime", offsetof(struct settings, low_speed_time) },
		{ "InstallTimeout", offsetof(struct settings, install_timeout) },
	};
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (!strcmp(fields[i].key, key))
			return (long *)((char *)s + fields[i].offset);
	return NULL;
}

static int apply(struct vd_ini_parser *p, struct settings *s, const char *key,
		const char *value)
{
	const struct vitaled_option *opt;

	for (opt = vd_trust_update_options; opt->key; opt++)
		if (!strcmp(opt->key, key))
			break;
	if (!opt->key)
		return vd_ini_error(p, "unknown key '%s' in [TrustUpdate]", key);
	if (!strcmp(key, "URL"))
		return set_string(p, key, value, s->url, sizeof(s->url));
	if (!strcmp(key, "CAFile"))
		return set_string(p, key, value, s->ca_file, sizeof(s->ca_file));
	return set_long(p, opt, value, long_setting(s, key));
}

static int on_group(struct vd_ini_parser *p, const char *group)
{
	struct conf_read *rd = p->data;

	rd->in_update = group && !strcmp(group, "TrustUpdate");
	rd->in_trust = group && !strcmp(group, "Trust");
	return 0;
}

/* Strict about our group; the daemon checks every other one. */
static int on_entry(struct vd_ini_parser *p, const char *key, const char *value)
{
	struct conf_read *rd = p->data;

	if (rd->in_update)
		return apply(p, rd->s, key, value);
	if (rd->in_trust && !strcmp(key, "DropDirectory"))
		return set_string(p, key, value, rd->s->drop_dir, sizeof(rd->s->drop_dir));
	return 0;
}

static int load_settings(const char *path, struct settings *s, char *err, size_t err_len)
{
	struct conf_read rd = { .s = s };
	struct vd_ini_parser p = { .on_group = on_group, .on_entry = on_entry, .data = &rd,
				   .strict = true, .err = err, .err_len = err_len };
	const struct vitaled_option *opt;
	char dropins[PATH_MAX + 3];
	int ret;

	memset(s, 0, sizeof(*s));
	snprintf(s->drop_dir, sizeof(s->drop_dir), "%s", DEFAULT_DROPDIR);
	for (opt = vd_trust_update_options; opt->key; opt++)
		if (opt->type == VITALED_OPT_INT)
			*long_setting(s, opt->key) = strtol(opt->default_value, NULL, 10);
	ret = vd_ini_parse_file(&p, path, true);
	if (ret < 0)
		return ret;
	if (snprintf(dropins, sizeof(dropins), "%s.d", path) >= (int)sizeof(dropins))
		return -ENAMETOOLONG;
	return vd_ini_parse_dropins(&p, dropins);
}

/* ---- conditional GET state ------------------------------------------ */

struct validators {
	char etag[MAX_VALIDATOR];
	char last_modified[MAX_VALIDATOR];
};

/* "ETag: ..." and "Last-Modified: ..." lines; anything else is ignored. */
static void load_validators(int dfd, struct validators *v)
{
	char line[MAX_VALIDATOR + 32];
	FILE *f;
	int fd;

	memset(v, 0, sizeof(*v));
	fd = openat(dfd, VALIDATORS_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!strncmp(line, "ETag: ", 6) && strlen(line + 6) < sizeof(v->etag))
			memcpy(v->etag, line + 6, strlen(line + 6) + 1);
		else if (!strncmp(line, "Last-Modified: ", 15) &&
			 strlen(line + 15) < sizeof(v->last_modified))
			memcpy(v->last_modified, line + 15, strlen(line + 15) + 1);
	}
	fclose(f);
}

/* Header values end at the first control character: nothing the server
 * sends can add a line to the file or a header to the next request. */
static void copy_header(CURL *curl, const char *name, char *dst, size_t size)
{
	struct curl_header *h;
	size_t n;

	dst[0] = '\0';
	if (curl_easy_header(curl, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return;
	for (n = 0; h->value[n] && (unsigned char)h->value[n] >= 0x20; n++)
		;
	if (n >= size)
		return;
	memcpy(dst, h->value, n);
	dst[n] = '\0';
}

/* Written whole or not at all (temp file, rename). */
static int save_validators(int dfd, const struct validators *v)
{
	static const char tmp[] = VALIDATORS_NAME ".tmp";
	FILE *f;
	int fd, ret = 0;

	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		ret = -errno;
		close(fd);
		unlinkat(dfd, tmp, 0);
		return ret;
	}
	if (v->etag[0])
		fprintf(f, "ETag: %s\n", v->etag);
	if (v->last_modified[0])
		fprintf(f, "Last-Modified: %s\n", v->last_modified);
	if (fflush(f) || fsync(fileno(f)))
		ret = -errno;
	if (fclose(f) && !ret)
		ret = -errno;
	if (!ret && renameat(dfd, tmp, dfd, VALIDATORS_NAME) < 0)
		ret = -errno;
	if (ret)
		unlinkat(dfd, tmp, 0);
	return ret;
}

/* ---- transfer ---------------------------------------------------------- */

/* Counted as it arrives: a server that sends no Content-Length (or lies)
 * is cut at the cap, not after the disk filled. */
static size_t on_data(char *data, size_t size, size_t nmemb, void *user)
{
	struct download *d = user;
	size_t n = size * nmemb, done = 0;
	ssize_t w;

	if ((curl_off_t)n > d->max - d->received) {
		d->too_large = true;
		return 0;
	}
	while (done < n) {
		w = write(d->fd, data + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			d->write_errno = errno;
			return 0;
		}
		done += w;
	}
	d->received += n;
	return n;
}

/* name: value appended to *list, unless value is empty; false: no memory */
static bool add_header(struct curl_slist **list, const char *name, const char *value)
{
	struct curl_slist *next;
	char h[MAX_VALIDATOR + 32];

	if (!value[0])
		return true;
	snprintf(h, sizeof(h), "%s: %s", name, value);
	next = curl_slist_append(*list, h);
	if (!next)
		return false;
	*list = next;
	return true;
}

static struct curl_slist *conditional_headers(const struct validators *v)
{
	struct curl_slist *list = NULL;

	if (!add_header(&list, "If-None-Match", v->etag) ||
	    !add_header(&list, "If-Modified-Since", v->last_modified)) {
		curl_slist_free_all(list);
		return NULL;
	}
	return list;
}

static int transfer_outcome(CURLcode rc, const struct download *d, const char *errbuf,
		const struct settings *s)
{
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);

	if (d->too_large || rc == CURLE_FILESIZE_EXCEEDED)
		return outcome(EXIT_TOO_LARGE, "too large: the bundle exceeds MaxSize (%ld bytes); "
			       "transfer aborted, nothing written to %s", s->max_size, s->drop_dir);
	if (d->write_errno)
		return outcome(EXIT_DROP_DIR, "cannot write into %s: %s; nothing left there",
			       s->drop_dir, strerror(d->write_errno));
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
		return outcome(EXIT_NOT_HTTPS, "refused: only https:// is allowed, for the URL "
			       "and for any redirect (%s)", why);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return outcome(EXIT_SERVER_DOWN, "server down: %s", why);
	case CURLE_OPERATION_TIMEDOUT:
		return outcome(EXIT_TIMEOUT, "timeout or too slow (ConnectTimeout %lds, Timeout "
			       "%lds, under %ld bytes/s for %lds): %s", s->connect_timeout,
			       s->timeout, s->low_speed_limit, s->low_speed_time, why);
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return outcome(EXIT_TRUNCATED, "truncated download after %lld bytes: %s",
			       (long long)d->received, why);
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return outcome(EXIT_TLS, "TLS failure: %s", why);
	case CURLE_TOO_MANY_REDIRECTS:
		return outcome(EXIT_HTTP_ERROR, "too many redirects: %s", why);
	default:
		return outcome(EXIT_FAILURE_OTHER, "download failed: %s", why);
	}
}

/* ---- pre-check --------------------------------------------------------- */

/* A CMS SignedData carrying a trust bundle manifest: enough to tell an
 * error page or a wrong file from a bundle, and to learn the version it
 * claims, by which the daemon's outcome for it is told from that of an
 * install made meanwhile by someone else.  The daemon verifies it. */
static bool bundle_version(int fd, uint64_t *version)
{
	ASN1_OCTET_STRING **content = NULL;
	struct vd_bundle *b = NULL;
	ASN1_OBJECT *want;
	CMS_ContentInfo *cms;
	char why[128];
	BIO *bio;
	bool ok = false;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return false;
	bio = BIO_new_fd(fd, BIO_NOCLOSE);
	if (!bio)
		return false;
	cms = d2i_CMS_bio(bio, NULL);
	want = OBJ_txt2obj(VD_BUNDLE_CONTENT_TYPE, 1);
	if (cms && want && OBJ_obj2nid(CMS_get0_type(cms)) == NID_pkcs7_signed &&
	    !OBJ_cmp(CMS_get0_eContentType(cms), want))
		content = CMS_get0_content(cms);
	if (content && *content &&
	    !vd_bundle_decode_manifest(ASN1_STRING_get0_data(*content),
				       (size_t)ASN1_STRING_length(*content), &b, why, sizeof(why))) {
		*version = vd_bundle_version(b);
		ok = true;
	}
	vd_bundle_free(b);
	ASN1_OBJECT_free(want);
	CMS_ContentInfo_free(cms);
	BIO_free(bio);
	return ok;
}

/* ---- the daemon's side ------------------------------------------------- */

struct daemon_state {
	bool known;
	dbus_uint64_t version;
	char error[512];
	char why[256];		/* when not known: what the bus said */
};

static int get_property(DBusConnection *bus, const char *name, int type, void *out,
			DBusError *err)
{
	static const char *iface = VITALED_DBUS_MANAGER_INTERFACE;
	DBusMessage *msg, *reply;
	DBusMessageIter it, var;
	int ret = -EIO;

	msg = dbus_message_new_method_call(VITALED_DBUS_NAME, VITALED_DBUS_MANAGER_PATH,
					   DBUS_INTERFACE_PROPERTIES, "Get");
	if (!msg)
		return -ENOMEM;
	if (!dbus_message_append_args(msg, DBUS_TYPE_STRING, &iface, DBUS_TYPE_STRING, &name,
				      DBUS_TYPE_INVALID)) {
		dbus_message_unref(msg);
		return -ENOMEM;
	}
	reply = dbus_connection_send_with_reply_and_block(bus, msg, 5000, err);
	dbus_message_unref(msg);
	if (!reply)
		return -EIO;
	if (dbus_message_iter_init(reply, &it) &&
	    dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_VARIANT) {
		dbus_message_iter_recurse(&it, &var);
		if (dbus_message_iter_get_arg_type(&var) == type) {
			dbus_message_iter_get_basic(&var, out);
			ret = 0;
		}
	}
	dbus_message_unref(reply);
	return ret;
}

static void read_daemon_state(DBusConnection *bus, const DBusError *connect_err,
			      struct daemon_state *st)
{
	const char *error;
	DBusError err;

	st->known = false;
	if (!bus) {
		snprintf(st->why, sizeof(st->why), "%s", connect_err->message ?
			 connect_err->message : "no connection");
		return;
	}
	dbus_error_init(&err);
	if (get_property(bus, "TrustBundleVersion", DBUS_TYPE_UINT64, &st->version, &err) < 0 ||
	    get_property(bus, "TrustLastInstallError", DBUS_TYPE_STRING, &error, &err) < 0) {
		snprintf(st->why, sizeof(st->why), "%s", dbus_error_is_set(&err) ?
			 err.message : "unexpected reply");
		dbus_error_free(&err);
		return;
	}
	snprintf(st->error, sizeof(st->error), "%s", error);
	st->known = true;
}

/* The daemon removes what it took from the drop directory once it is done
 * with it, whatever the outcome; wait for that, bounded. */
static int wait_taken(int ifd, long seconds)
{
	char buf[sizeof(struct inotify_event) + NAME_MAX + 1]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	struct timespec start, now;
	struct pollfd pfd = { .fd = ifd, .events = POLLIN };
	long left_ms;
	ssize_t n;
	char *p;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		left_ms = seconds * 1000 - ((now.tv_sec - start.tv_sec) * 1000 +
					    (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left_ms <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, left_ms) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		n = read(ifd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		for (p = buf; p < buf + n; ) {
			struct inotify_event *ev = (struct inotify_event *)p;

			if (ev->len && !strcmp(ev->name, BUNDLE_NAME))
				return 0;
			p += sizeof(*ev) + ev->len;
		}
	}
}

/* ---- main -------------------------------------------------------------- */

static int open_state_dir(void)
{
	const char *dir = getenv("STATE_DIRECTORY");	/* systemd's StateDirectory= */

	if (!dir || !*dir)
		dir = DEFAULT_STATEDIR;
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static CURL *make_request(const struct settings *s, struct download *d,
		struct curl_slist *headers, char *errbuf)
{
	CURL *c = curl_easy_init();

	if (!c)
		return NULL;
	/* The protocols allowed hold for every redirect too. */
	if (curl_easy_setopt(c, CURLOPT_URL, s->url) ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) ||
	    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L) ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) ||
	    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, d->max) ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, s->connect_timeout) ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT, s->timeout) ||
	    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, s->low_speed_limit) ||
	    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, s->low_speed_time) ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data) ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, d) ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers) ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, "vitaled-trust-update/" PACKAGE_VERSION) ||
	    (s->ca_file[0] && curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file))) {
		curl_easy_cleanup(c);
		return NULL;
	}
	return c;
}

/* Gives the downloaded file its name in the drop directory: whole, synced,
 * in one rename, which is what the daemon's watch acts on. */
static int publish(int dfd, int fd)
{
	char tmp[64], path[64];
	int ret;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	snprintf(tmp, sizeof(tmp), ".vitaled-trust-update.%ld", (long)getpid());
	if (fsync(fd) < 0)
		return -errno;
	unlinkat(dfd, tmp, 0);	/* left by a run that had our pid and died */
	if (linkat(AT_FDCWD, path, dfd, tmp, AT_SYMLINK_FOLLOW) < 0)
		return -errno;
	if (renameat(dfd, tmp, dfd, BUNDLE_NAME) < 0) {
		ret = -errno;
		unlinkat(dfd, tmp, 0);
		return ret;
	}
	return fsync(dfd) < 0 ? -errno : 0;
}

static int hand_over(const struct settings *s, int dfd, int fd, uint64_t version, int sdfd,
		const struct validators *fresh)
{
	struct daemon_state before = { 0 }, after = { 0 };
	DBusConnection *bus = NULL;
	DBusError connect_err;
	int ifd = -1, ret, code;

	dbus_error_init(&connect_err);
	if (s->install_timeout) {
		bus = dbus_bus_get_private(DBUS_BUS_SYSTEM, &connect_err);
		read_daemon_state(bus, &connect_err, &before);
		ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		if (ifd < 0 || inotify_add_watch(ifd, s->drop_dir, IN_DELETE | IN_MOVED_FROM) < 0) {
			code = outcome(EXIT_DROP_DIR, "cannot watch %s: %s", s->drop_dir,
				       strerror(errno));
			goto out;
		}
	}
	ret = publish(dfd, fd);
	if (ret < 0) {
		code = outcome(EXIT_DROP_DIR, "cannot write into %s: %s; nothing left there",
			       s->drop_dir, strerror(-ret));
		goto out;
	}
	if (!s->install_timeout) {
		code = outcome(EXIT_QUEUED, "bundle handed to the daemon in %s/%s (not waiting "
			       "for the outcome: InstallTimeout=0)", s->drop_dir, BUNDLE_NAME);
		goto out;
	}
	ret = wait_taken(ifd, s->install_timeout);
	if (ret < 0) {
		code = outcome(EXIT_NO_OUTCOME, "the daemon did not take %s/%s within %lds (is "
			       "vitaled running?); it is left there for the daemon to install",
			       s->drop_dir, BUNDLE_NAME, s->install_timeout);
		goto out;
	}
	read_daemon_state(bus, &connect_err, &after);
	if (!after.known) {
		code = outcome(EXIT_NO_OUTCOME, "the daemon took the bundle but its outcome could "
			       "not be read on the system bus (%s); see its journal", after.why);
	} else if (after.version != version || after.error[0]) {
		/* The daemon clears its error on success and on "nothing to do";
		 * the version in force is ours then.  Otherwise ours was refused
		 * (or went in, and someone's newer one after it). */
		code = outcome(EXIT_REFUSED, "refused by the daemon: %s (still serving version "
			       "%llu)", after.error[0] ? after.error : "version not installed, see "
			       "its journal", (unsigned long long)after.version);
	} else {
		if (before.known && before.version == version)
			code = outcome(EXIT_INSTALLED, "version %llu is already installed",
				       (unsigned long long)version);
		else
			code = outcome(EXIT_INSTALLED, "installed version %llu",
				       (unsigned long long)version);
		/* only now: a bundle not installed is fetched again next time */
		ret = save_validators(sdfd, fresh);
		if (ret < 0)
			fprintf(stderr, "vitaled-trust-update: warning: cannot keep ETag/"
				"Last-Modified: %s\n", strerror(-ret));
	}
out:
	if (ifd >= 0)
		close(ifd);
	if (bus) {
		dbus_connection_close(bus);
		dbus_connection_unref(bus);
	}
	dbus_error_free(&connect_err);
	return code;
}

static int run(const struct settings *s)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct download d = { .fd = -1, .max = s->max_size };
	struct validators old, fresh;
	uint64_t version;
	struct curl_slist *headers;
	CURL *curl = NULL;
	CURLcode rc;
	long status = 0;
	int dfd, sdfd, code;

	sdfd = open_state_dir();
	if (sdfd < 0)
		return outcome(EXIT_FAILURE_OTHER, "cannot open the state directory: %s",
			       strerror(errno));
	load_validators(sdfd, &old);
	dfd = open(s->drop_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* No name until it is whole: a failed or killed run leaves nothing.
	 * A public file: the daemon's user reads it, whatever our umask. */
	if (dfd < 0 || (d.fd = openat(dfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644)) < 0 ||
	    fchmod(d.fd, 0644) < 0) {
		code = outcome(EXIT_DROP_DIR, "cannot write into %s: %s", s->drop_dir,
			       strerror(errno));
		goto out;
	}
	headers = conditional_headers(&old);
	if ((old.etag[0] || old.last_modified[0]) && !headers) {
		code = outcome(EXIT_FAILURE_OTHER, "out of memory");
		goto out;
	}
	curl = make_request(s, &d, headers, errbuf);
	if (!curl) {
		curl_slist_free_all(headers);
		code = outcome(EXIT_FAILURE_OTHER, "cannot set up the transfer");
		goto out;
	}
	rc = curl_easy_perform(curl);
	curl_slist_free_all(headers);
	if (rc != CURLE_OK) {
		code = transfer_outcome(rc, &d, errbuf, s);
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 304) {
		code = outcome(EXIT_NOT_MODIFIED, "not modified since the last installed bundle");
		goto out;
	}
	if (status != 200) {
		code = outcome(EXIT_HTTP_ERROR, "the server answered HTTP %ld", status);
		goto out;
	}
	if (!bundle_version(d.fd, &version)) {
		code = outcome(EXIT_NOT_BUNDLE, "not a trust bundle (%lld bytes, no CMS SignedData "
			       "holding a bundle manifest); nothing written to %s",
			       (long long)d.received, s->drop_dir);
		goto out;
	}
	copy_header(curl, "ETag", fresh.etag, sizeof(fresh.etag));
	copy_header(curl, "Last-Modified", fresh.last_modified, sizeof(fresh.last_modified));
	code = hand_over(s, dfd, d.fd, version, sdfd, &fresh);
out:
	curl_easy_cleanup(curl);
	if (d.fd >= 0)
		close(d.fd);
	if (dfd >= 0)
		close(dfd);
	close(sdfd);
	return code;
}

/* In the admin's language: only here, since the outcome lines are the
 * journal's and stay English.  VITALED_UPDATE_LOCALEDIR points an
 * uninstalled build at the build tree's catalogues (the tests). */
static void usage(FILE *out)
{
	const char *dir = getenv("VITALED_UPDATE_LOCALEDIR");

	setlocale(LC_ALL, "");
	bindtextdomain(PACKAGE, dir && *dir ? dir : LOCALEDIR);
	textdomain(PACKAGE);
	fprintf(out, _("Usage: vitaled-trust-update [--config FILE]\n"
		"Fetch the trust bundle from [TrustUpdate] URL and hand it to vitaled.\n\n"
		"Options:\n"
		"  -c, --config FILE   vitaled.conf to read (default %s)\n"
		"  -h, --help          this text\n"), DEFAULT_CONFIG);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *config = DEFAULT_CONFIG;
	struct settings s;
	char err[512] = "";
	int opt, code, ret;

	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	ret = load_settings(config, &s, err, sizeof(err));
	if (ret < 0)
		return outcome(EXIT_CONFIG, "configuration: %s", err[0] ? err :
			       strerror(-ret));
	if (!s.url[0])
		return outcome(EXIT_NOT_CONFIGURED, "no [TrustUpdate] URL in %s: nothing to fetch",
			       config);
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return outcome(EXIT_FAILURE_OTHER, "cannot initialise libcurl");
	code = run(&s);
	curl_global_cleanup();
	return code;
}
