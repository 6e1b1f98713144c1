/*
 * vitaled — public D-Bus names (see doc/dbus-api.md).
 *
 * The introspection XML in dbus/ is the source of truth for members and
 * signatures; this header only names things so that C clients (vitalectl)
 * and the daemon spell them the same way.
 */
#ifndef VITALED_DBUS_H
#define VITALED_DBUS_H

#define VITALED_DBUS_NAME		"org.vitaled"
#define VITALED_DBUS_ROOT_PATH		"/org/vitaled"
#define VITALED_DBUS_MANAGER_PATH	VITALED_DBUS_ROOT_PATH
#define VITALED_DBUS_MANAGER_INTERFACE	"org.vitaled.Manager1"
#define VITALED_DBUS_READER_INTERFACE	"org.vitaled.Reader1"
#define VITALED_DBUS_CARD_INTERFACE	"org.vitaled.Card1"

/* libdbus names the ObjectManager interface only from 1.15 on. */
#ifndef DBUS_INTERFACE_OBJECT_MANAGER
#define DBUS_INTERFACE_OBJECT_MANAGER	"org.freedesktop.DBus.ObjectManager"
#endif

/*
 * Object paths: readers are <prefix><n>, n a counter of the running daemon;
 * cards are <prefix><id>, id 32 lowercase hex digits (128 random bits), so
 * that a card's path never names another read, even after a restart.
 */
#define VITALED_DBUS_READERS_PATH	VITALED_DBUS_ROOT_PATH "/readers"
#define VITALED_DBUS_CARDS_PATH		VITALED_DBUS_ROOT_PATH "/cards"
#define VITALED_DBUS_READER_PATH_PREFIX	VITALED_DBUS_READERS_PATH "/"
#define VITALED_DBUS_CARD_PATH_PREFIX	VITALED_DBUS_CARDS_PATH "/"
#define VITALED_DBUS_CARD_ID_LEN	32

/* Errors (daemon/dbus-error.c maps every internal failure to one). */
#define VITALED_DBUS_ERROR_PREFIX	"org.vitaled.Error."
#define VITALED_DBUS_ERROR_ACCESS_DENIED	VITALED_DBUS_ERROR_PREFIX "AccessDenied"
#define VITALED_DBUS_ERROR_NOT_VERIFIED		VITALED_DBUS_ERROR_PREFIX "NotVerified"
#define VITALED_DBUS_ERROR_IN_PROGRESS		VITALED_DBUS_ERROR_PREFIX "InProgress"
#define VITALED_DBUS_ERROR_GONE			VITALED_DBUS_ERROR_PREFIX "Gone"
#define VITALED_DBUS_ERROR_INVALID_ARGUMENTS	VITALED_DBUS_ERROR_PREFIX "InvalidArguments"
#define VITALED_DBUS_ERROR_NOT_SUPPORTED	VITALED_DBUS_ERROR_PREFIX "NotSupported"
#define VITALED_DBUS_ERROR_BUSY			VITALED_DBUS_ERROR_PREFIX "Busy"
#define VITALED_DBUS_ERROR_FAILED		VITALED_DBUS_ERROR_PREFIX "Failed"
/* Manager1.InstallTrustBundle (doc/formats.md section 14.3) */
#define VITALED_DBUS_ERROR_TRUST_BUNDLE_INVALID	VITALED_DBUS_ERROR_PREFIX "TrustBundleInvalid"
#define VITALED_DBUS_ERROR_TRUST_SIGNATURE_INVALID VITALED_DBUS_ERROR_PREFIX "TrustSignatureInvalid"
#define VITALED_DBUS_ERROR_TRUST_EXPIRED	VITALED_DBUS_ERROR_PREFIX "TrustExpired"
#define VITALED_DBUS_ERROR_TRUST_NOT_YET_VALID	VITALED_DBUS_ERROR_PREFIX "TrustNotYetValid"
#define VITALED_DBUS_ERROR_TRUST_ROLLBACK	VITALED_DBUS_ERROR_PREFIX "TrustRollback"
#define VITALED_DBUS_ERROR_TRUST_STORAGE	VITALED_DBUS_ERROR_PREFIX "TrustStorageFailed"

#endif
