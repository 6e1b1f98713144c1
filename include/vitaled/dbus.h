/*
 * vitaled — public D-Bus names (see doc/dbus-api.md).
 */
#ifndef VITALED_DBUS_H
#define VITALED_DBUS_H

#define VITALED_DBUS_NAME		"org.vitaled"
#define VITALED_DBUS_ROOT_PATH		"/org/vitaled"
#define VITALED_DBUS_MANAGER_PATH	VITALED_DBUS_ROOT_PATH
#define VITALED_DBUS_MANAGER_INTERFACE	"org.vitaled.Manager1"
#define VITALED_DBUS_READER_INTERFACE	"org.vitaled.Reader1"
#define VITALED_DBUS_CARD_INTERFACE	"org.vitaled.Card1"

#endif
