/*
 * One envelope step on stdin-free arguments, for tests/test-dgc.py:
 *   dgc-step base45 TEXT     → hex of the decoded bytes
 *   dgc-step inflate HEX     → hex of the inflated bytes (64 KiB cap)
 *   dgc-step cose HEX        → "alg=N kid=HEX payload=LEN sig=LEN"
 * Exit 1 and "error: ..." when the step refuses the input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void print_hex(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		printf("%02x", p[i]);
}

static uint8_t *from_hex(const char *s, size_t *len)
{
	size_t n = strlen(s), i;
	uint8_t *buf;

	if (n % 2)
		return NULL;
	buf = malloc(n / 2 + 1);
	if (!buf)
		return NULL;
	for (i = 0; i < n / 2; i++) {
		unsigned int v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1) {
			free(buf);
			return NULL;
		}
		buf[i] = (uint8_t)v;
	}
	*len = n / 2;
	return buf;
}

int main(int argc, char **argv)
{
	uint8_t *in = NULL, *out = NULL;
	size_t in_len, out_len;
	int ret = -EINVAL;

	if (argc != 3) {
		fprintf(stderr, "usage: dgc-step base45|inflate|cose ARG\n");
		return 2;
	}
	if (!strcmp(argv[1], "base45")) {
		in_len = strlen(argv[2]);
		out = malloc(VD_BASE45_MAX_DECODED(in_len));
		if (out)
			ret = vd_base45_decode(argv[2], in_len, out,
					VD_BASE45_MAX_DECODED(in_len), &out_len);
	} else if ((in = from_hex(argv[2], &in_len))) {
		if (!strcmp(argv[1], "inflate")) {
			ret = vd_inflate(in, in_len, 64 * 1024, &out, &out_len);
		} else if (!strcmp(argv[1], "cose")) {
			struct vd_cose_sign1 m;

			ret = vd_cose_sign1_parse(in, in_len, &m);
			if (!ret) {
				printf("alg=%lld kid=", (long long)m.alg);
				print_hex(m.kid, m.kid ? m.kid_len : 0);
				printf(" payload=%zu sig=%zu\n", m.payload_len,
						m.signature_len);
			}
			free(in);
			goto done;
		}
	}
	if (!ret) {
		print_hex(out, out_len);
		putchar('\n');
	}
	free(in);
	free(out);
done:
	if (ret)
		printf("error: %s\n", strerror(-ret));
	return ret ? 1 : 0;
}
