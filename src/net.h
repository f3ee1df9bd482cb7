/*
 * What every libcurl connection to an account's server needs, whatever the
 * protocol: TLS required (libcurl's default on imap:// and pop3:// is none:
 * the password would go in clear), the account's CA and verification
 * setting, bounded connect and response times, no signals.
 *
 * Transfers: outside a coroutine (run --once, deliver, test) they are
 * curl_easy_perform. Inside one (the daemon, see watch.c) the handle runs
 * on a multi handle whose sockets the coroutine waits on, so a stalled
 * server holds up only the account that talks to it. These functions set
 * CURLOPT_PRIVATE on the handles they run.
 */
#ifndef FACTEUR_NET_H
#define FACTEUR_NET_H

#include <curl/curl.h>

struct conf_account;

void	net_setup_account(CURL *, const struct conf_account *);

/*
 * Run one transfer to its end; the connection ends with the handle.
 * Every transfer goes through here or net_perform_keep (never
 * curl_easy_perform directly).
 */
CURLcode net_perform(CURL *);

/*
 * The same for a handle whose connection must outlive the transfer: a
 * CONNECT_ONLY login whose socket is used next with curl_easy_send/recv, or
 * a POP3 session of several transfers on one connection. Call net_release
 * before curl_easy_cleanup of such a handle.
 */
CURLcode net_perform_keep(CURL *);
void	net_release(CURL *);

/*
 * A CONNECT_ONLY login whose socket is used next with curl_easy_send/recv:
 * net_perform_keep on the multi handle that all logins share. Send or
 * receive on the connection before waiting on anything else (until then
 * another login may close it if it looks dead); net_release it before
 * curl_easy_cleanup.
 */
CURLcode net_login(CURL *);

/*
 * On a connection net_login made (IMAP and POP3 speak on it themselves):
 * at most cap bytes into p, or len bytes from p. 1 when *got / *sent > 0,
 * 0 when the socket is not ready (wait on it and call again), -1 with
 * *cause ("LABEL: server closed the connection", "LABEL: receive: ...")
 * when it is over.
 */
int	net_raw_recv(CURL *, const char *label, char *p, size_t cap,
	    size_t *got, char **cause);
/*
 * Once the first command is sent on such a connection: TLS reads take
 * every record the socket holds at once (a read buffer under OpenSSL), so
 * bytes may wait in the TLS layer that the socket no longer shows. From
 * then on, receive until net_raw_recv returns 0 before waiting on the
 * socket.
 */
void	net_raw_begin(CURL *);
int	net_raw_send(CURL *, const char *label, const char *p, size_t len,
	    size_t *sent, char **cause);
/*
 * Wait (coro_wait) up to timeout_ms for events on the connection's socket.
 * 0 when ready; -1 and *cause: "LABEL: no answer from the server in N s"
 * (or "; shutting down"), or the poll error.
 */
int	net_raw_wait(curl_socket_t, short events, int timeout_ms,
	    const char *label, char **cause);

#endif
