/* Test side of chip tests and the chip benchmark: see chipimg.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "chipimg.h"

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v && *v ? v : fallback;
}

static const char *python(void)
{
	/* Debian's modules need Debian's interpreter (HACKING.md). */
	return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

const char *chipimg_pki(void)
{
	static char dir[PATH_MAX];
	char cmd[3 * PATH_MAX];

	if (dir[0])
		return dir;
	snprintf(dir, sizeof(dir), "%s/tests/pki.d/test", env_or("top_builddir", "/tmp/vitaled-hc"));
	snprintf(cmd, sizeof(cmd), "sh '%s/tests/pki/mkpki.sh' '%s'",
			env_or("top_srcdir", "."), dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "mkpki.sh failed\n");
		exit(99);	/* hard error for the TAP driver */
	}
	return dir;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	uint8_t *buf = NULL;
	struct stat st;
	FILE *f;

	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fstat(fileno(f), &st) == 0 && st.st_size >= 0) {
		buf = malloc(st.st_size ? st.st_size : 1);
		if (buf && fread(buf, 1, st.st_size, f) != (size_t)st.st_size) {
			free(buf);
			buf = NULL;
		}
		*len = st.st_size;
	}
	fclose(f);
	return buf;
}

static char workdir[64];

/* Images go to a private temporary directory, removed at exit. */
static void remove_workdir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", workdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", workdir);
}

int chipimg_make(struct chipimg *img, const char *name, const char *args)
{
	const char *chip_key = "aa-1";
	char out[PATH_MAX], cmd[4 * PATH_MAX], path[PATH_MAX + 16];
	const char *pki = chipimg_pki();
	const char *k;
	unsigned int sfi;

	memset(img, 0, sizeof(*img));
	if (!workdir[0]) {
		snprintf(workdir, sizeof(workdir), "%s/vitaled-chipimg.XXXXXX",
				env_or("TMPDIR", "/tmp"));
		if (strlen(workdir) >= sizeof(workdir) - 1 || !mkdtemp(workdir)) {
			workdir[0] = '\0';
			return -EIO;
		}
		atexit(remove_workdir);
	}
	snprintf(out, sizeof(out), "%s/%s", workdir, name);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && %s '%s/tests/emu/openprofile.py' --pki '%s' --out '%s' %s",
			out, python(), env_or("top_srcdir", "."), pki, out, args);
	if (system(cmd) != 0)
		return -EIO;
	for (sfi = 0; sfi < 32; sfi++) {
		if (sfi == CHIPIMG_SFI_SOD)
			snprintf(path, sizeof(path), "%s/sod.bin", out);
		else
			snprintf(path, sizeof(path), "%s/dg%02u.bin", out, sfi);
		img->files[sfi] = slurp(path, &img->lens[sfi]);
	}
	k = strstr(args, "--chip-key ");
	if (!k)
		k = strstr(args, "--aa-key ");
	if (k) {
		static char key[64];

		sscanf(strchr(k, ' ') + 1, "%63s", key);
		chip_key = key;
	}
	snprintf(img->chip_key, sizeof(img->chip_key), "%s/private/%s.key", pki, chip_key);
	return img->files[CHIPIMG_SFI_SOD] ? 0 : -ENOENT;
}

void chipimg_free(struct chipimg *img)
{
	unsigned int i;

	for (i = 0; i < 32; i++)
		free(img->files[i]);
	memset(img, 0, sizeof(*img));
}

int chipimg_sign(const char *keyfile, const uint8_t *msg, size_t len, uint8_t sig[64])
{
	unsigned char der[80];
	const unsigned char *p = der;
	size_t der_len = sizeof(der);
	EVP_MD_CTX *md = NULL;
	ECDSA_SIG *es = NULL;
	EVP_PKEY *key = NULL;
	FILE *f;
	int ret = -EINVAL;

	f = fopen(keyfile, "r");
	if (!f)
		return -errno;
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	md = EVP_MD_CTX_new();
	if (!key || !md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
			EVP_DigestSign(md, der, &der_len, msg, len) != 1)
		goto out;
	es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	if (!es || BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) != 32 ||
			BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) != 32)
		goto out;
	ret = 0;
out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	return ret;
}

void chipimg_view(const struct chipimg *img, enum vd_form_factor form,
		const uint8_t *challenge, size_t challenge_len, const uint8_t *sig,
		size_t sig_len, struct vd_chip_image *out)
{
	static const unsigned int dgs[] = { 1, 2, 3, 4, 15 };
	unsigned int i;

	memset(out, 0, sizeof(*out));
	out->form = form;
	for (i = 0; i < sizeof(dgs) / sizeof(dgs[0]); i++) {
		out->dgs.dg[dgs[i]].data = img->files[dgs[i]];
		out->dgs.dg[dgs[i]].len = img->lens[dgs[i]];
	}
	out->sod = img->files[CHIPIMG_SFI_SOD];
	out->sod_len = img->lens[CHIPIMG_SFI_SOD];
	out->challenge = challenge;
	out->challenge_len = challenge_len;
	out->aa_signature = sig;
	out->aa_signature_len = sig_len;
}
