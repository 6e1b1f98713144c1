/*
 * Test side: read the card in one PC/SC reader with vd_chip_read(), as
 * the daemon's source would, and print the outcome on one line:
 *   status=verified form=card apdus=12 record=1 beneficiaries=4 marker=production
 * Used by tests/test-chip-pcsc.py against the emulators of tests/emu.
 *
 *   chip-pcsc TRUSTDIR READER_INDEX [NOW [allow-test-cards]]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winscard.h>

#include "internal.h"

struct pcsc_io {
	SCARDHANDLE card;
	DWORD protocol;
};

static int pcsc_transmit(void *io_data, const uint8_t *cmd, size_t cmd_len, uint8_t *resp,
		size_t *resp_len)
{
	struct pcsc_io *io = io_data;
	const SCARD_IO_REQUEST *pci = io->protocol == SCARD_PROTOCOL_T0 ?
		SCARD_PCI_T0 : SCARD_PCI_T1;
	DWORD n = *resp_len;
	LONG rv;

	rv = SCardTransmit(io->card, pci, cmd, cmd_len, NULL, resp, &n);
	switch (rv) {
	case SCARD_S_SUCCESS:
		*resp_len = n;
		return 0;
	case SCARD_W_REMOVED_CARD:
	case SCARD_E_NO_SMARTCARD:
	case SCARD_W_RESET_CARD:
		return -ENODEV;
	case SCARD_E_TIMEOUT:
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
}

int main(int argc, char **argv)
{
	char readers[4096], *name;
	DWORD len = sizeof(readers), atr_len = MAX_ATR_SIZE, state, proto, name_len = 0;
	uint8_t atr[MAX_ATR_SIZE];
	struct vd_settings settings;
	struct vd_read_result *res;
	struct vd_context *ctx;
	struct vd_trust *trust;
	struct pcsc_io io;
	SCARDCONTEXT sc;
	int index;
	time_t now = argc > 3 ? (time_t)atoll(argv[3]) : time(NULL);

	if (argc < 3)
		return 2;
	index = atoi(argv[2]);
	if (vd_trust_load(argv[1], NULL, NULL, &trust) < 0)
		return 1;
	vd_settings_default(&settings);
	settings.allow_test_cards = argc > 4 && !strcmp(argv[4], "allow-test-cards");
	ctx = vd_context_new(trust, &settings);
	vd_trust_unref(trust);

	if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &sc) != SCARD_S_SUCCESS ||
			SCardListReaders(sc, NULL, readers, &len) != SCARD_S_SUCCESS) {
		fprintf(stderr, "chip-pcsc: no PC/SC\n");
		return 1;
	}
	for (name = readers; *name && index > 0; name += strlen(name) + 1)
		index--;
	if (!*name ||
			SCardConnect(sc, name, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
				&io.card, &io.protocol) != SCARD_S_SUCCESS ||
			SCardStatus(io.card, NULL, &name_len, &state, &proto, atr, &atr_len) !=
				SCARD_S_SUCCESS) {
		fprintf(stderr, "chip-pcsc: no card in reader %s\n", argv[2]);
		return 1;
	}
	res = vd_read_result_new();
	SCardBeginTransaction(io.card);
	vd_chip_read(ctx, &(struct vd_card_io){ pcsc_transmit, &io }, atr, atr_len, now, res);
	SCardEndTransaction(io.card, SCARD_LEAVE_CARD);
	printf("status=%s form=%s apdus=%u record=%d beneficiaries=%u marker=%s\n",
			vd_status_name(res->verdict.status), vd_form_factor_name(res->form),
			res->apdu_count, res->has_record, res->has_record ?
			res->record.n_beneficiaries : 0, vd_marker_name(res->marker));
	fprintf(stderr, "reason: %s\n", res->verdict.reason);
	vd_read_result_free(res);
	SCardDisconnect(io.card, SCARD_LEAVE_CARD);
	SCardReleaseContext(sc);
	vd_context_unref(ctx);
	return 0;
}
