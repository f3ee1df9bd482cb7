/*
 * The refusals, in the order they are tried: no envelope sender; anything
 * msg_is_auto() calls automatic (Auto-Submitted other than "no", a null or
 * MAILER-DAEMON/LISTSERV/majordomo sender, Precedence bulk/list/junk,
 * X-Auto-Response-Suppress All/OOF, X-Autoreply, delivery reports) and
 * Precedence: auto_reply; any List-* header; an owner-* or *-request
 * sender; mail from one of the account's own addresses; and, when the account lists its addresses, mail
 * that names none of them in To, Cc, Bcc or Resent-To/Cc/Bcc (a Bcc copy
 * or a list copy; Delivered-To is not counted: it is the envelope).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "autoreply.h"
#include "conf.h"
#include "msg.h"
#include "xmalloc.h"

static bool	 is_list_robot(const char *);
static bool	 is_own(const struct conf_account *, const char *);
static char	*check_senders(struct msg *, const struct conf_account *);
static bool	 addressed_to(struct msg *, const struct conf_account *);

/* owner-x@, x-request@: list software's addresses. */
static bool
is_list_robot(const char *addr)
{
	size_t	 local = strcspn(addr, "@");

	if (local >= 6 && strncasecmp(addr, "owner-", 6) == 0)
		return true;
	return local >= 8 && strncasecmp(addr + local - 8, "-request", 8) == 0;
}

static bool
is_own(const struct conf_account *a, const char *addr)
{
	size_t	 i;

	for (i = 0; i < a->naddresses; i++) {
		if (strcasecmp(a->addresses[i], addr) == 0)
			return true;
	}
	return false;
}

/* Return-Path and From: a list robot or the account itself. */
static char *
check_senders(struct msg *m, const struct conf_account *a)
{
	const struct msg_addr	*f;
	const char		*rp = msg_return_path(m);
	size_t			 i, n;

	if (is_list_robot(rp))
		return xasprintf("Return-Path %s is list software", rp);
	if (is_own(a, rp))
		return xasprintf("Return-Path %s is the account's own address",
		    rp);
	n = msg_addrs(m, MSG_FROM, &f);
	for (i = 0; i < n; i++) {
		if (is_list_robot(f[i].address))
			return xasprintf("From %s is list software",
			    f[i].address);
		if (is_own(a, f[i].address))
			return xasprintf("From %s is the account's own "
			    "address", f[i].address);
	}
	return NULL;
}

static bool
addressed_to(struct msg *m, const struct conf_account *a)
{
	static const enum msg_addr_field fields[] = { MSG_TO, MSG_CC, MSG_BCC,
	    MSG_RESENT_TO, MSG_RESENT_CC, MSG_RESENT_BCC };
	const struct msg_addr	*v;
	size_t			 i, j, n;

	for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		n = msg_addrs(m, fields[i], &v);
		for (j = 0; j < n; j++) {
			if (is_own(a, v[j].address))
				return true;
		}
	}
	return false;
}

char *
autoreply_refusal(struct msg *m, const struct conf_account *a)
{
	const char	*why, *rp = msg_return_path(m);
	char		*s;

	if (rp == NULL)
		return xstrdup("no Return-Path (envelope sender unknown)");
	if (msg_is_auto(m, &why))
		return xasprintf("automatic message: %s", why);
	/* Not in RFC 3834, but autoresponders mark themselves so. */
	if ((why = msg_header(m, "Precedence", 0)) != NULL &&
	    strcasestr(why, "auto_reply") != NULL)
		return xasprintf("automatic message: Precedence: %.100s", why);
	if (msg_is_list(m)) {
		why = msg_list_id(m);
		return why != NULL ? xasprintf("mailing-list message "
		    "(List-Id: %.200s)", why) : xstrdup("mailing-list message "
		    "(List-* header)");
	}
	if ((s = check_senders(m, a)) != NULL)
		return s;
	if (a->naddresses > 0 && !addressed_to(m, a))
		return xstrdup("not addressed to the account (none of its "
		    "addresses in To, Cc, Bcc or Resent-*)");
	return NULL;
}
