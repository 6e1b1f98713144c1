# QR sources (issue 7): serial, HID-POS and keyboard-wedge scanners, webcam,
# and QR codes in image files.

builtin_plugins += serial hidpos wedge camera
builtin_sources += plugins/qrline.c plugins/devwatch.c plugins/serial.c plugins/passpty.c plugins/vkbd.c plugins/hidpos.c plugins/hidpos-desc.c plugins/wedge.c \
	plugins/camera.c
builtin_cflags += $(LIBUSB_CFLAGS) $(ZBAR_CFLAGS)
# libzbar is dlopen()ed by the camera source when it is enabled (camera.c).
builtin_libadd += $(LIBUSB_LIBS)

# Images → QR bytes, in the engine library (vitalectl token verify --image).
lib_libvitaled_core_la_SOURCES += lib/qrimage.c
lib_libvitaled_core_la_CFLAGS += $(ZBAR_CFLAGS) $(PNG_CFLAGS) $(JPEG_CFLAGS)
lib_libvitaled_core_la_LIBADD += $(ZBAR_LIBS) $(PNG_LIBS) $(JPEG_LIBS)

# The HID-POS report descriptor parser on its own.
check_PROGRAMS += tests/unit/test-hidpos-desc
tests_unit_test_hidpos_desc_SOURCES = tests/unit/test-hidpos-desc.c plugins/hidpos-desc.c
tests_unit_test_hidpos_desc_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins
TESTS += tests/unit/test-hidpos-desc

# Fuzzing the descriptor parser (conventions of lib/codec.mk): make check
# replays the corpus, make fuzz runs libFuzzer.
FUZZ_TARGETS += hidpos-desc
EXTRA_DIST += tests/fuzz/corpus/hidpos-desc
check_PROGRAMS += tests/fuzz/regress-hidpos-desc
TESTS += tests/fuzz/regress-hidpos-desc
tests_fuzz_regress_hidpos_desc_SOURCES = tests/fuzz/fuzz-hidpos-desc.c tests/fuzz/regress.c \
	plugins/hidpos-desc.c
tests_fuzz_regress_hidpos_desc_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/unit \
	-I$(top_srcdir)/plugins -DFUZZ_NAME=\"hidpos-desc\"
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-hidpos-desc
tests_fuzz_fuzz_hidpos_desc_SOURCES = tests/fuzz/fuzz-hidpos-desc.c plugins/hidpos-desc.c
tests_fuzz_fuzz_hidpos_desc_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins
tests_fuzz_fuzz_hidpos_desc_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_hidpos_desc_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
endif

# tests/qr-camera.py's stand-in for libzbar.so.0's video calls (no V4L2
# here): it exports zbar's API, so without -fvisibility=hidden.
check_LTLIBRARIES += tests/camera/zbar-frames.la
tests_camera_zbar_frames_la_SOURCES = tests/camera/zbar-frames.c
tests_camera_zbar_frames_la_CFLAGS = $(WARN_CFLAGS) $(SANITIZER_CFLAGS) $(ZBAR_CFLAGS)
tests_camera_zbar_frames_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere

# Prints the QR bytes found in each image (tests and bench).
check_PROGRAMS += tests/qr/qrscan
tests_qr_qrscan_SOURCES = tests/qr/qrscan.c
tests_qr_qrscan_LDADD = lib/libvitaled-core.la

TESTS += tests/qr-images.py tests/qr-serial.py tests/qr-wedge.py tests/qr-hidpos.py \
	tests/qr-camera.py tests/qr-other-codes.py tests/qr-serial-pass.py tests/qr-hidpos-reattach.py \
	tests/qr-wedge-pass.py tests/qr-pharmacy.py
EXTRA_DIST += tests/qr-images.py tests/qr-serial.py tests/qr-wedge.py tests/qr-hidpos.py \
	tests/qr-camera.py tests/qr-other-codes.py tests/qr-serial-pass.py tests/qr-hidpos-reattach.py \
	tests/qr-wedge-pass.py tests/qr-pharmacy.py tests/lib/vtest/qr.py tests/lib/vtest/hidpos.py tests/lib/vtest/wedge.py \
	tests/lib/vtest/share.py tests/lib/vtest/bench.py

# Benchmarks (bench/run's "qr"): image decode+verify against zbarimg on the
# same images, and serial scan latency from last byte to verdict.
noinst_PROGRAMS += bench/bench-qr-image
bench_bench_qr_image_SOURCES = bench/bench-qr-image.c
bench_bench_qr_image_LDADD = lib/libvitaled-core.la
# bench-share's keyboard-wedge floor: a minimal evdev -> uinput relay.
noinst_PROGRAMS += bench/bench-wedge-relay
bench_bench_wedge_relay_SOURCES = bench/bench-wedge-relay.c
EXTRA_DIST += bench/bench-qr.py bench/bench-share.py
