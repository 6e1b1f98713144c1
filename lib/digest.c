/*
 * SHA-2 digests fetched once.  EVP_sha256() and its kin are only names:
 * every EVP_DigestInit() with them fetches the implementation again (a
 * locked lookup costing about as much as hashing a data group), and a
 * chip needs seven digests.  Fetched objects are immutable and may be
 * shared by every thread; they live as long as the process.
 */
#include <pthread.h>

#include <openssl/evp.h>
#include <openssl/objects.h>

#include "internal.h"

static const int nids[] = { NID_sha256, NID_sha384, NID_sha512 };
static const EVP_MD *fetched[sizeof(nids) / sizeof(nids[0])];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void fetch_all(void)
{
	unsigned int i;

	for (i = 0; i < sizeof(nids) / sizeof(nids[0]); i++)
		fetched[i] = EVP_MD_fetch(NULL, OBJ_nid2sn(nids[i]), NULL);
}

const EVP_MD *vd_digest(int nid)
{
	unsigned int i;

	pthread_once(&once, fetch_all);
	for (i = 0; i < sizeof(nids) / sizeof(nids[0]); i++)
		if (nids[i] == nid)
			/* a failed fetch leaves the slower implicit one */
			return fetched[i] ? fetched[i] : EVP_get_digestbynid(nid);
	return NULL;
}
