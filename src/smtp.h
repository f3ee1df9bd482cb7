/*
 * Sending mail over SMTP with libcurl. Debian's libcurl 7.88.1 sends CR/LF
 * inside an address as they are (command injection) and silently sends
 * nothing for an empty recipient list: smtp_send() refuses both before
 * libcurl sees them. TLS is required unless the config says tls: none, and
 * the SASL mechanism is pinned (libcurl never falls back).
 */
#ifndef FACTEUR_SMTP_H
#define FACTEUR_SMTP_H

#include <stdbool.h>
#include <stddef.h>

struct conf_smtp;

enum smtp_result {
	SMTP_OK,
	SMTP_TEMP,	/* 4xx, network, login: retry later */
	SMTP_PERM,	/* 5xx for the message or every recipient */
	SMTP_PARTIAL	/* sent, but some recipients were refused */
};

/* An addr-spec we are willing to hand to libcurl ("" allowed for <>). */
bool	smtp_address_valid(const char *, bool allow_empty);

/*
 * Send data (a whole message, CRLF line ends) from mail_from ("" for <>)
 * to the recipients. On anything but SMTP_OK *cause says what happened;
 * with SMTP_PARTIAL it names each refused recipient and its reply. One
 * refused recipient never stops the others (CURLOPT_MAIL_RCPT_ALLLOWFAILS).
 */
enum smtp_result smtp_send(const struct conf_smtp *, const char *mail_from,
	    const char *const *rcpts, size_t nrcpts, const char *data,
	    size_t len, char **cause);

#endif
