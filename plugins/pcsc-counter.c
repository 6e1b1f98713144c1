/*
 * pcscd's card event counter (upper 16 bits of dwEventState): one step
 * per insertion and one per removal, wrapping at 0x10000.
 *
 * pcscd sets a reader's state and bumps the counter in two steps, and a
 * client may read the states in between (while another reader's event
 * wakes it): a card going in can show PRESENT with the old counter, a
 * card going out the new counter while still PRESENT.  So one step with
 * the card present at both reads is such a torn read, not a card; a card
 * pulled and put back between two reads takes two steps or more.
 */
#include "plugins.h"

bool pcsc_counter_swapped(unsigned int before, unsigned int now)
{
	return ((now - before) & 0xFFFF) >= 2;
}
