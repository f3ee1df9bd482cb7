#include <gmime/gmime.h>

#include "msg.h"

/* Placeholder until the message module lands. */
void
msg_library_init(void)
{
	g_mime_init();
}

void
msg_library_shutdown(void)
{
	g_mime_shutdown();
}
