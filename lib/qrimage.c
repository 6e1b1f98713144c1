/*
 * QR codes from images: PNG (libpng), JPEG (libjpeg) and binary PGM are
 * turned into 8-bit grey and handed to libzbar in binary mode, so byte
 * payloads come back exactly as encoded.  Every size from the file is
 * bounded before anything is allocated for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#include <openssl/crypto.h>
#include <png.h>
#include <zbar.h>

#include "vitaled-core.h"

static int check_size(unsigned long width, unsigned long height)
{
	if (width == 0 || height == 0)
		return -EINVAL;
	if (width > VD_IMAGE_MAX_SIDE || height > VD_IMAGE_MAX_SIDE)
		return -EFBIG;
	return 0;
}

int vd_qr_scan_grey(const uint8_t *grey, unsigned int width, unsigned int height,
		uint8_t *out, size_t out_size, size_t *out_len)
{
	zbar_image_scanner_t *scanner;
	zbar_image_t *image;
	const zbar_symbol_t *sym;
	int err, n;

	err = check_size(width, height);
	if (err)
		return err;

	scanner = zbar_image_scanner_create();
	image = zbar_image_create();
	if (!scanner || !image) {
		err = -ENOMEM;
		goto out;
	}
	/* QR only: other symbologies cost time and can only give noise. */
	zbar_image_scanner_set_config(scanner, 0, ZBAR_CFG_ENABLE, 0);
	zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
	zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_BINARY, 1);

	zbar_image_set_format(image, zbar_fourcc('Y', '8', '0', '0'));
	zbar_image_set_size(image, width, height);
	zbar_image_set_data(image, grey, (unsigned long)width * height, NULL);

	n = zbar_scan_image(scanner, image);
	if (n < 0) {
		err = -EIO;
		goto out;
	}
	err = -ENODATA;
	for (sym = zbar_image_first_symbol(image); sym; sym = zbar_symbol_next(sym)) {
		unsigned int len;

		if (zbar_symbol_get_type(sym) != ZBAR_QRCODE)
			continue;
		len = zbar_symbol_get_data_length(sym);
		if (len > out_size) {
			err = -ENOBUFS;
			break;
		}
		memcpy(out, zbar_symbol_get_data(sym), len);
		*out_len = len;
		err = 0;
		break;
	}
out:
	if (image) {
		/* the pixels are the caller's */
		zbar_image_set_data(image, NULL, 0, NULL);
		zbar_image_destroy(image);
	}
	if (scanner)
		zbar_image_scanner_destroy(scanner);
	return err;
}

/* ---- decoders: each returns a malloc'ed grey buffer ----------------- */

static int decode_png(const uint8_t *buf, size_t len, uint8_t **grey,
		unsigned int *width, unsigned int *height)
{
	/* transparent areas become white, as they look on a phone screen */
	static const png_color white = { 255, 255, 255 };
	png_image image;
	uint8_t *pixels;
	int err;

	memset(&image, 0, sizeof(image));
	image.version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_memory(&image, buf, len))
		return -EINVAL;
	err = check_size(image.width, image.height);
	if (err) {
		png_image_free(&image);
		return err;
	}
	image.format = PNG_FORMAT_GRAY;
	pixels = malloc(PNG_IMAGE_SIZE(image));
	if (!pixels) {
		png_image_free(&image);
		return -ENOMEM;
	}
	if (!png_image_finish_read(&image, &white, pixels, 0, NULL)) {
		png_image_free(&image);
		free(pixels);
		return -EINVAL;
	}
	*grey = pixels;
	*width = image.width;
	*height = image.height;
	return 0;
}

struct jpeg_error {
	struct jpeg_error_mgr mgr;
	jmp_buf jump;
};

static void jpeg_fail(j_common_ptr cinfo)
{
	struct jpeg_error *jerr = (struct jpeg_error *)cinfo->err;

	longjmp(jerr->jump, 1);
}

/* libjpeg warns on recoverable damage; the decode result decides. */
static void jpeg_quiet(j_common_ptr cinfo)
{
}

static int decode_jpeg(const uint8_t *buf, size_t len, uint8_t **grey,
		unsigned int *width, unsigned int *height)
{
	struct jpeg_decompress_struct cinfo;
	struct jpeg_error jerr;
	uint8_t *volatile pixels = NULL;
	volatile int err = -EINVAL;

	if (len > ULONG_MAX)
		return -EFBIG;
	cinfo.err = jpeg_std_error(&jerr.mgr);
	jerr.mgr.error_exit = jpeg_fail;
	jerr.mgr.output_message = jpeg_quiet;
	if (setjmp(jerr.jump)) {
		jpeg_destroy_decompress(&cinfo);
		free(pixels);
		return err;
	}
	jpeg_create_decompress(&cinfo);
	/* libjpeg's own working memory is capped too */
	cinfo.mem->max_memory_to_use = 64L * 1024 * 1024;
	jpeg_mem_src(&cinfo, buf, (unsigned long)len);
	jpeg_read_header(&cinfo, TRUE);
	err = check_size(cinfo.image_width, cinfo.image_height);
	if (err) {
		jpeg_destroy_decompress(&cinfo);
		return err;
	}
	err = -EINVAL;
	cinfo.out_color_space = JCS_GRAYSCALE;
	jpeg_start_decompress(&cinfo);
	if (cinfo.output_components != 1)
		longjmp(jerr.jump, 1);
	pixels = malloc((size_t)cinfo.output_width * cinfo.output_height);
	if (!pixels) {
		err = -ENOMEM;
		longjmp(jerr.jump, 1);
	}
	while (cinfo.output_scanline < cinfo.output_height) {
		JSAMPROW row = pixels + (size_t)cinfo.output_scanline * cinfo.output_width;

		jpeg_read_scanlines(&cinfo, &row, 1);
	}
	jpeg_finish_decompress(&cinfo);
	*grey = pixels;
	*width = cinfo.output_width;
	*height = cinfo.output_height;
	jpeg_destroy_decompress(&cinfo);
	return 0;
}

/* One PGM header number, after whitespace and '#' comments. */
static int pgm_number(const uint8_t *buf, size_t len, size_t *pos, unsigned long *value)
{
	size_t p = *pos;
	unsigned long v = 0;
	int digits = 0;

	for (;;) {
		if (p >= len)
			return -EINVAL;
		if (buf[p] == '#') {
			while (p < len && buf[p] != '\n')
				p++;
		} else if (buf[p] == ' ' || buf[p] == '\t' || buf[p] == '\r' || buf[p] == '\n') {
			p++;
		} else {
			break;
		}
	}
	while (p < len && buf[p] >= '0' && buf[p] <= '9') {
		if (++digits > 6)
			return -EINVAL;
		v = v * 10 + (buf[p++] - '0');
	}
	if (!digits)
		return -EINVAL;
	*pos = p;
	*value = v;
	return 0;
}

static int decode_pgm(const uint8_t *buf, size_t len, uint8_t **grey,
		unsigned int *width, unsigned int *height)
{
	unsigned long w, h, maxval;
	size_t pos = 2, n, i;
	uint8_t *pixels;
	int err;

	if (pgm_number(buf, len, &pos, &w) || pgm_number(buf, len, &pos, &h) ||
	    pgm_number(buf, len, &pos, &maxval))
		return -EINVAL;
	/* exactly one whitespace byte separates the header from the pixels */
	if (pos >= len || maxval == 0 || maxval > 255)
		return -EINVAL;
	pos++;
	err = check_size(w, h);
	if (err)
		return err;
	n = (size_t)w * h;
	if (len - pos < n)
		return -EINVAL;
	pixels = malloc(n);
	if (!pixels)
		return -ENOMEM;
	if (maxval == 255) {
		memcpy(pixels, buf + pos, n);
	} else {
		for (i = 0; i < n; i++) {
			unsigned int v = buf[pos + i] > maxval ? maxval : buf[pos + i];

			pixels[i] = (uint8_t)(v * 255 / maxval);
		}
	}
	*grey = pixels;
	*width = w;
	*height = h;
	return 0;
}

int vd_qr_scan_image(const uint8_t *buf, size_t len,
		uint8_t *out, size_t out_size, size_t *out_len)
{
	static const uint8_t png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	uint8_t *grey = NULL;
	unsigned int width = 0, height = 0;
	int err;

	if (len > VD_IMAGE_MAX_FILE)
		return -EFBIG;
	if (len >= sizeof(png_magic) && !memcmp(buf, png_magic, sizeof(png_magic)))
		err = decode_png(buf, len, &grey, &width, &height);
	else if (len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff)
		err = decode_jpeg(buf, len, &grey, &width, &height);
	else if (len >= 3 && buf[0] == 'P' && buf[1] == '5')
		err = decode_pgm(buf, len, &grey, &width, &height);
	else
		err = -EPROTONOSUPPORT;
	if (err)
		return err;
	err = vd_qr_scan_grey(grey, width, height, out, out_size, out_len);
	/* the picture of a token is the token */
	OPENSSL_cleanse(grey, (size_t)width * height);
	free(grey);
	return err;
}

int vd_qr_scan_file(const char *path, uint8_t *out, size_t out_size, size_t *out_len)
{
	uint8_t *buf;
	off_t size;
	size_t got = 0;
	int fd, err;

	fd = vd_open_regular(AT_FDCWD, path, &size);
	if (fd < 0)
		return fd;
	if (size > VD_IMAGE_MAX_FILE) {
		close(fd);
		return -EFBIG;
	}
	buf = malloc(size ? (size_t)size : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)size) {
		ssize_t r = read(fd, buf + got, (size_t)size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	err = vd_qr_scan_image(buf, got, out, out_size, out_len);
	OPENSSL_cleanse(buf, got);
	free(buf);
	return err;
}

const char *vd_qr_strerror(int err)
{
	switch (err) {
	case -ENODATA:
		return "no QR code found in the image";
	case -EPROTONOSUPPORT:
		return "not a PNG, JPEG or binary PGM image";
	case -EINVAL:
		return "unreadable or damaged image";
	case -EFBIG:
		return "image too large";
	case -ENOBUFS:
		return "QR code content too long";
	case -ENOMEM:
		return "out of memory";
	default:
		return vd_open_strerror(err);
	}
}
