/*
 * NIR (numéro d'inscription au répertoire): 13 characters and a 2-digit
 * key = 97 - (number mod 97).  Corsica's departments 2A and 2B count as
 * 19 and 18 for the computation.
 */
#include <errno.h>
#include <string.h>

#include "vitaled-core.h"

#define NIR_LEN		15
#define NIR_BODY	13
#define DEPT_POS	5	/* department: characters 6 and 7 */

int vd_nir_check(const char *nir)
{
	uint64_t number = 0;
	unsigned int i, key;

	if (!nir || strnlen(nir, NIR_LEN + 1) != NIR_LEN)
		return -EINVAL;
	for (i = 0; i < NIR_LEN; i++) {
		char c = nir[i];

		if (c >= '0' && c <= '9')
			continue;
		if (i == DEPT_POS + 1 && nir[DEPT_POS] == '2' && (c == 'A' || c == 'B'))
			continue;
		return -EINVAL;
	}
	for (i = 0; i < NIR_BODY; i++) {
		unsigned int digit = nir[i] - '0';

		if (i == DEPT_POS && nir[i + 1] >= 'A') {
			/* "2A" → 19, "2B" → 18 */
			number = number * 100 + (nir[i + 1] == 'A' ? 19 : 18);
			i++;
			continue;
		}
		number = number * 10 + digit;
	}
	key = (nir[NIR_BODY] - '0') * 10 + (nir[NIR_BODY + 1] - '0');
	return key == 97 - number % 97 ? 0 : -EINVAL;
}
