/*
 * libFuzzer target: COSE_Sign1 parsing, then verification with an EC
 * P-256 key and an RSA key (made once), whatever the message claims.
 */
#include <stdlib.h>

#include <openssl/evp.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static EVP_PKEY *ec, *rsa;
	struct vd_cose_sign1 msg;

	if (!ec) {
		ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		if (!ec || !rsa)
			abort();
	}
	if (vd_cose_sign1_parse(data, size, &msg))
		return 0;
	if (msg.payload < data || msg.payload + msg.payload_len > data + size ||
			msg.signature + msg.signature_len > data + size)
		abort();
	/* Nobody can sign for these fresh keys: success would be a bug. */
	if (vd_cose_sign1_verify(&msg, ec) == 0 || vd_cose_sign1_verify(&msg, rsa) == 0)
		abort();
	return 0;
}
