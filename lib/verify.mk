# Verification engine (issue 4, chip/trust half): see HACKING.md.
lib_libvitaled_core_la_SOURCES += lib/internal.h lib/result.c lib/ecsig.c lib/trust.c \
	lib/tlv.c lib/datagroups.c lib/sod.c lib/chip-verify.c lib/chip.c \
	lib/nir.c lib/rights.c
