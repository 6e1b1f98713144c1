/*
 * Test-only fault injection, LD_PRELOADed into vitaled: just before the
 * daemon's first SCardBeginTransaction, another PC/SC context connects to
 * the same card and resets it.  The reset is real (pcscd does it and marks
 * the daemon's handle stale); only its timing is forced, because pcscd
 * holds other applications off while the daemon is inside a transaction.
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <winscard.h>

/* the build hides symbols by default: this one must interpose */
__attribute__((visibility("default"))) LONG SCardBeginTransaction(SCARDHANDLE card);

static void reset_from_outside(SCARDHANDLE card)
{
	char reader[MAX_READERNAME];
	DWORD len = sizeof(reader), state, proto, atr_len = MAX_ATR_SIZE;
	BYTE atr[MAX_ATR_SIZE];
	SCARDCONTEXT ctx;
	SCARDHANDLE other;

	if (SCardStatus(card, reader, &len, &state, &proto, atr, &atr_len) != SCARD_S_SUCCESS)
		return;
	if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx) != SCARD_S_SUCCESS)
		return;
	if (SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
			&other, &proto) == SCARD_S_SUCCESS)
		SCardDisconnect(other, SCARD_RESET_CARD);
	SCardReleaseContext(ctx);
}

LONG SCardBeginTransaction(SCARDHANDLE card)
{
	static atomic_int injected;
	LONG (*real)(SCARDHANDLE) = (LONG (*)(SCARDHANDLE))dlsym(RTLD_NEXT, "SCardBeginTransaction");

	if (getenv("VTEST_RESET_BEFORE_TRANSACTION") && !atomic_exchange(&injected, 1))
		reset_from_outside(card);
	return real(card);
}
