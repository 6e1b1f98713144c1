/*
 * vitaled-trust-bundle: build a signed trust bundle (doc/formats.md
 * section 14) from a trust directory, for issuers and test fixtures.
 * The encoding and signing are lib/bundle.c's, so what this writes is
 * what the daemon reads.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "vitaled-core.h"

struct input {
	struct vd_bundle_member *members;
	size_t n;
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: vitaled-trust-bundle --version N --expires TIME [--issued TIME]\n"
			"         --signer CERT.pem --key KEY.pem [--chain EXTRA.pem] DIR OUT\n\n"
			"Signs every *.pem, *.crl and opposition.txt of the trust directory DIR\n"
			"into the bundle OUT (written whole, then renamed into place).\n"
			"TIME is YYYY-MM-DDTHH:MM:SSZ or @SECONDS; --issued defaults to now.\n");
}

static int parse_time(const char *text, time_t *out)
{
	struct tm tm = { 0 };
	const char *end;
	char *e;

	if (text[0] == '@') {
		long long v;

		errno = 0;
		v = strtoll(text + 1, &e, 10);
		if (errno || e == text + 1 || *e || v <= 0)
			return -EINVAL;
		*out = (time_t)v;
		return 0;
	}
	end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return -EINVAL;
	*out = timegm(&tm);
	return 0;
}

static bool wanted(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	return !strcmp(name, "opposition.txt") ||
		(n > 4 && (!strcmp(name + n - 4, ".pem") || !strcmp(name + n - 4, ".crl")));
}

static int skip_unwanted(const struct dirent *d)
{
	return wanted(d->d_name);
}

static int read_member(int dfd, const char *name, struct vd_bundle_member *m)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int err;

	err = vd_read_regular(dfd, name, VD_BUNDLE_MAX_MEMBER, &buf, &len);
	if (err < 0) {
		fprintf(stderr, "vitaled-trust-bundle: %s: %s%s\n", name, vd_open_strerror(err),
				err == -EFBIG ? " (a member is at most 4 MiB)" : "");
		return err;
	}
	/* An issuer's key must never travel to every PC. */
	if (strstr((char *)buf, "PRIVATE KEY")) {
		fprintf(stderr, "vitaled-trust-bundle: %s holds a private key: refused\n", name);
		free(buf);
		return -EPERM;
	}
	m->name = strdup(name);
	m->data = buf;
	m->len = len;
	if (!m->name) {
		free(buf);
		return -ENOMEM;
	}
	return 0;
}

static void input_free(struct input *in)
{
	size_t i;

	for (i = 0; i < in->n; i++) {
		free((char *)in->members[i].name);
		free((uint8_t *)in->members[i].data);
	}
	free(in->members);
}

/* Names sorted byte-wise (alphasort in the C locale): the order the format wants. */
static int read_dir(const char *dir, struct input *in)
{
	struct dirent **names = NULL;
	int dfd, n, i, err = 0;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		fprintf(stderr, "vitaled-trust-bundle: %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	n = scandirat(dfd, ".", &names, skip_unwanted, alphasort);
	if (n <= 0 || (unsigned int)n > VD_BUNDLE_MAX_MEMBERS) {
		fprintf(stderr, "vitaled-trust-bundle: %s: %s\n", dir,
				n < 0 ? strerror(errno) : "needs 1 to 4096 trust files");
		err = -EINVAL;
		goto out;
	}
	in->members = calloc((size_t)n, sizeof(*in->members));
	if (!in->members) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n && !err; i++) {
		err = read_member(dfd, names[i]->d_name, &in->members[in->n]);
		if (!err)
			in->n++;
	}
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	close(dfd);
	return err;
}

static FILE *open_pem(const char *path)
{
	int err;
	FILE *f = vd_fopen_regular(path, &err);

	if (!f)
		fprintf(stderr, "vitaled-trust-bundle: %s: %s\n", path, vd_open_strerror(err));
	return f;
}

static X509 *load_cert(const char *path, STACK_OF(X509) *more)
{
	X509 *first = NULL, *cert;
	FILE *f = open_pem(path);

	if (!f)
		return NULL;
	while ((cert = PEM_read_X509(f, NULL, NULL, NULL))) {
		if (!first && !more)
			first = cert;
		else if (!more || !sk_X509_push(more, cert))
			X509_free(cert);
	}
	ERR_clear_error();
	fclose(f);
	if (!first && !more)
		fprintf(stderr, "vitaled-trust-bundle: %s: no certificate\n", path);
	return first;	/* NULL when the certificates went to more */
}

static EVP_PKEY *load_key(const char *path)
{
	EVP_PKEY *key;
	FILE *f = open_pem(path);

	if (!f)
		return NULL;
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!key)
		fprintf(stderr, "vitaled-trust-bundle: %s: no private key\n", path);
	ERR_clear_error();
	return key;
}

/* Write out whole beside path, then rename: a drop directory or a web
 * server never sees half a bundle under its final name. */
static int write_atomic(const char *path, const uint8_t *buf, size_t len)
{
	char tmp[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int dir_len = slash ? (int)(slash - path + 1) : 0;
	size_t done = 0;
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%.*s.%s.tmp-%ld", dir_len, path,
				slash ? slash + 1 : path, (long)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if (done != len || fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
		int err = errno ? -errno : -EIO;

		unlink(tmp);
		return err;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "version", required_argument, NULL, 'v' },
		{ "issued", required_argument, NULL, 'i' },
		{ "expires", required_argument, NULL, 'e' },
		{ "signer", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "chain", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *signer_path = NULL, *key_path = NULL, *chain_path = NULL;
	time_t issued = time(NULL), expires = 0;
	uint64_t version = 0;
	struct input in = { 0 };
	STACK_OF(X509) *chain = NULL;
	X509 *signer = NULL;
	EVP_PKEY *key = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	char why[256], *end;
	int opt, err, status = 1;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'v':
			errno = 0;
			version = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || version == 0) {
				fprintf(stderr, "vitaled-trust-bundle: --version takes an integer "
						"from 1 to 2^64-1\n");
				return 2;
			}
			break;
		case 'i':
		case 'e':
			if (parse_time(optarg, opt == 'i' ? &issued : &expires) < 0) {
				fprintf(stderr, "vitaled-trust-bundle: bad time '%s' "
						"(YYYY-MM-DDTHH:MM:SSZ or @SECONDS)\n", optarg);
				return 2;
			}
			break;
		case 's':
			signer_path = optarg;
			break;
		case 'k':
			key_path = optarg;
			break;
		case 'c':
			chain_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2 || !version || !expires || !signer_path || !key_path) {
		usage(stderr);
		return 2;
	}
	if (expires <= issued) {
		fprintf(stderr, "vitaled-trust-bundle: --expires must be after the issue time\n");
		return 2;
	}
	chain = sk_X509_new_null();
	signer = load_cert(signer_path, NULL);
	key = load_key(key_path);
	if (!chain || !signer || !key)
		goto out;
	if (chain_path) {
		load_cert(chain_path, chain);
		if (sk_X509_num(chain) == 0) {
			fprintf(stderr, "vitaled-trust-bundle: %s: no certificate\n", chain_path);
			goto out;
		}
	}
	if (read_dir(argv[optind], &in) < 0)
		goto out;
	err = vd_bundle_build(version, issued, expires, in.members, in.n, signer, key, chain,
			&der, &der_len, why, sizeof(why));
	if (err < 0) {
		fprintf(stderr, "vitaled-trust-bundle: %s\n", why);
		goto out;
	}
	err = write_atomic(argv[optind + 1], der, der_len);
	if (err < 0) {
		fprintf(stderr, "vitaled-trust-bundle: %s: %s\n", argv[optind + 1], strerror(-err));
		goto out;
	}
	printf("version %" PRIu64 ", %zu members, %zu bytes: %s\n", version, in.n, der_len,
			argv[optind + 1]);
	status = 0;
out:
	free(der);
	input_free(&in);
	sk_X509_pop_free(chain, X509_free);
	X509_free(signer);
	EVP_PKEY_free(key);
	return status;
}
