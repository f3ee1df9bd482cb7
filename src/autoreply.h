/*
 * When an auto-reply must not be sent (RFC 3834 section 2, RFC 5230
 * section 4.6, and DESIGN.md). A pure function of the message and the
 * account, so every refusal can be tested on a fixture.
 */
#ifndef FACTEUR_AUTOREPLY_H
#define FACTEUR_AUTOREPLY_H

struct conf_account;
struct msg;

/*
 * Why m must get no auto-reply from the account, or NULL when one may go.
 * The reason is allocated (caller frees) and names the header or address
 * that decided it.
 */
char	*autoreply_refusal(struct msg *m, const struct conf_account *);

#endif
