/*
 * Camera frames where no V4L2 device can exist.  The test machines have no
 * video drivers, and libzbar's V4L2 calls go through libv4l2's raw
 * syscall()s, which umockdev cannot see (tests/qr-camera.py).  So this
 * library stands in for libzbar.so.0 (found first through LD_LIBRARY_PATH)
 * at the video calls only: "the device" is a FIFO carrying 8-bit PGM frames
 * (P5, maxval 255), one frame per zbar_video_next_image(); the writer
 * closing it is the camera going away.  Everything the camera source does
 * with a frame (conversion, scanning, the symbol cache, symbols) is the
 * real libzbar's, loaded from VTEST_ZBAR_LIBRARY.  VTEST_ZBAR_OPEN_FAIL_MS
 * makes a failed open return that late: time for a test to create the node
 * while the worker that missed it still runs.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zbar.h>

#define FRAME_SIDE_MAX	4096
#define HEADER_MAX	64

struct zbar_video_s {
	int fd;
	char error[160];
};

/* The real libzbar's calls the camera source makes, and the ones used here
 * to make a frame. */
#define REAL_CALLS(X) \
	X(image_convert) X(image_destroy) X(image_first_symbol) X(image_scanner_create) \
	X(image_scanner_destroy) X(image_scanner_enable_cache) X(image_scanner_set_config) \
	X(scan_image) X(symbol_get_count) X(symbol_get_data) X(symbol_get_data_length) \
	X(symbol_get_type) X(symbol_next) X(image_create) X(image_set_format) \
	X(image_set_size) X(image_set_data) X(image_free_data)

static struct {
#define REAL_POINTER(name) __typeof__(zbar_##name) *name;
	REAL_CALLS(REAL_POINTER)
#undef REAL_POINTER
} real;

static void *real_symbol(void *handle, const char *name)
{
	void *sym = dlsym(handle, name);

	if (!sym) {
		fprintf(stderr, "zbar-frames: the real libzbar has no %s\n", name);
		abort();
	}
	return sym;
}

__attribute__((constructor)) static void load_real(void)
{
	const char *path = getenv("VTEST_ZBAR_LIBRARY");
	void *handle;

	if (!path || path[0] != '/') {
		fprintf(stderr, "zbar-frames: VTEST_ZBAR_LIBRARY must name the real libzbar\n");
		abort();
	}
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		fprintf(stderr, "zbar-frames: %s\n", dlerror());
		abort();
	}
#define REAL_RESOLVE(name) real.name = (__typeof__(real.name))real_symbol(handle, "zbar_" #name);
	REAL_CALLS(REAL_RESOLVE)
#undef REAL_RESOLVE
}

zbar_image_t *zbar_image_convert(const zbar_image_t *image, unsigned long format)
{
	return real.image_convert(image, format);
}

void zbar_image_destroy(zbar_image_t *image)
{
	real.image_destroy(image);
}

const zbar_symbol_t *zbar_image_first_symbol(const zbar_image_t *image)
{
	return real.image_first_symbol(image);
}

zbar_image_scanner_t *zbar_image_scanner_create(void)
{
	return real.image_scanner_create();
}

void zbar_image_scanner_destroy(zbar_image_scanner_t *scanner)
{
	real.image_scanner_destroy(scanner);
}

void zbar_image_scanner_enable_cache(zbar_image_scanner_t *scanner, int enable)
{
	real.image_scanner_enable_cache(scanner, enable);
}

int zbar_image_scanner_set_config(zbar_image_scanner_t *scanner, zbar_symbol_type_t symbology,
		zbar_config_t config, int value)
{
	return real.image_scanner_set_config(scanner, symbology, config, value);
}

int zbar_scan_image(zbar_image_scanner_t *scanner, zbar_image_t *image)
{
	return real.scan_image(scanner, image);
}

int zbar_symbol_get_count(const zbar_symbol_t *symbol)
{
	return real.symbol_get_count(symbol);
}

const char *zbar_symbol_get_data(const zbar_symbol_t *symbol)
{
	return real.symbol_get_data(symbol);
}

unsigned int zbar_symbol_get_data_length(const zbar_symbol_t *symbol)
{
	return real.symbol_get_data_length(symbol);
}

zbar_symbol_type_t zbar_symbol_get_type(const zbar_symbol_t *symbol)
{
	return real.symbol_get_type(symbol);
}

const zbar_symbol_t *zbar_symbol_next(const zbar_symbol_t *symbol)
{
	return real.symbol_next(symbol);
}

/* Only the camera source's video objects reach this. */
const char *_zbar_error_string(const void *object, int verbosity)
{
	(void)verbosity;
	return ((const struct zbar_video_s *)object)->error;
}

static int fail(zbar_video_t *video, const char *what)
{
	snprintf(video->error, sizeof(video->error), "zbar-frames: %s: %s", what,
			errno ? strerror(errno) : "bad frame");
	return -1;
}

zbar_video_t *zbar_video_create(void)
{
	zbar_video_t *video = calloc(1, sizeof(*video));

	if (video)
		video->fd = -1;
	return video;
}

void zbar_video_destroy(zbar_video_t *video)
{
	if (video && video->fd >= 0)
		close(video->fd);
	free(video);
}

/* Non-blocking open, so that a FIFO without a writer yet does not hold the
 * worker (and the daemon's stop) in open(); reads then block. */
int zbar_video_open(zbar_video_t *video, const char *device)
{
	int flags;

	errno = 0;
	video->fd = open(device, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (video->fd < 0) {
		const char *delay = getenv("VTEST_ZBAR_OPEN_FAIL_MS");

		fail(video, device);
		if (delay)
			usleep((useconds_t)atoi(delay) * 1000);
		return -1;
	}
	flags = fcntl(video->fd, F_GETFL);
	if (flags < 0 || fcntl(video->fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		return fail(video, device);
	return 0;
}

int zbar_video_get_fd(const zbar_video_t *video)
{
	return video->fd;
}

int zbar_video_init(zbar_video_t *video, unsigned long format)
{
	(void)video;
	(void)format;
	return 0;
}

int zbar_video_enable(zbar_video_t *video, int enable)
{
	(void)video;
	(void)enable;
	return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* "P5 <width> <height> 255" and one whitespace byte, read a byte at a time
 * so that nothing of the pixels is taken. */
static int read_header(int fd, unsigned int *width, unsigned int *height)
{
	char header[HEADER_MAX + 1];
	unsigned int maxval, fields = 0;
	size_t len = 0;
	bool in_field = false;

	while (fields < 4) {
		char c;

		if (len == HEADER_MAX || read_all(fd, &c, 1) < 0)
			return -1;
		header[len++] = c;
		if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
			fields += in_field;
			in_field = false;
		} else {
			in_field = true;
		}
	}
	header[len] = '\0';
	if (sscanf(header, "P5 %u %u %u", width, height, &maxval) != 3 || maxval != 255 ||
	    !*width || !*height || *width > FRAME_SIDE_MAX || *height > FRAME_SIDE_MAX)
		return -1;
	return 0;
}

zbar_image_t *zbar_video_next_image(zbar_video_t *video)
{
	unsigned int width, height;
	zbar_image_t *image;
	void *pixels;

	errno = 0;
	if (read_header(video->fd, &width, &height) < 0) {
		fail(video, "frame header");
		return NULL;
	}
	pixels = malloc((size_t)width * height);
	if (!pixels || read_all(video->fd, pixels, (size_t)width * height) < 0) {
		free(pixels);
		fail(video, "frame pixels");
		return NULL;
	}
	image = real.image_create();
	if (!image) {
		free(pixels);
		return NULL;
	}
	real.image_set_format(image, zbar_fourcc('Y', '8', '0', '0'));
	real.image_set_size(image, width, height);
	real.image_set_data(image, pixels, (unsigned long)width * height, real.image_free_data);
	return image;
}
