/*
 * What every libcurl connection to an account's server needs, whatever the
 * protocol: TLS required (libcurl's default on imap:// and pop3:// is none:
 * the password would go in clear), the account's CA and verification
 * setting, bounded connect and response times, no signals.
 */
#ifndef FACTEUR_NET_H
#define FACTEUR_NET_H

#include <curl/curl.h>

struct conf_account;

void	net_setup_account(CURL *, const struct conf_account *);

/*
 * Run one transfer to its end. Every transfer goes through here (never
 * curl_easy_perform directly) so the daemon can run it without letting a
 * stalled server hold up the other accounts.
 */
CURLcode net_perform(CURL *);

#endif
