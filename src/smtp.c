#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "conf.h"
#include "log.h"
#include "net.h"
#include "smtp.h"
#include "xmalloc.h"

struct smtp_upload {
	const char	*p;
	size_t		 left;
};

/*
 * What the server said. Per-recipient replies reach us only through the
 * debug callback, which sees each command sent and each reply line: the
 * reply that follows "RCPT TO:<x>" is x's. Of our commands only RCPT is
 * looked at; the AUTH line (credentials) is never kept.
 */
struct smtp_replies {
	char		 last[512];	/* the last reply line */
	char		 rcpt[256];	/* RCPT awaiting its reply, or "" */
	struct buf	 refused;	/* "addr (reply), ..." */
	size_t		 nrefused;
	bool		 refused_temp;	/* a refusal was 4xx */
};

static size_t	smtp_read_cb(char *, size_t, size_t, void *);
static int	smtp_debug_cb(CURL *, curl_infotype, char *, size_t, void *);
static void	smtp_reply_line(struct smtp_replies *, const char *, size_t);
static void	smtp_setup_auth(CURL *, const struct conf_smtp *,
		    const char *);
static enum smtp_result smtp_classify(CURL *, CURLcode, struct smtp_replies *,
		    size_t, char **);

bool
smtp_address_valid(const char *a, bool allow_empty)
{
	const unsigned char	*p;
	const char		*at;

	if (a == NULL)
		return false;
	if (*a == '\0')
		return allow_empty;
	if (strlen(a) > 254)
		return false;
	for (p = (const unsigned char *)a; *p != '\0'; p++) {
		/* Controls, spaces and brackets break the SMTP command. */
		if (*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>')
			return false;
	}
	at = strrchr(a, '@');
	return at != NULL && at != a && at[1] != '\0';
}

static size_t
smtp_read_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct smtp_upload	*u = arg;
	size_t			 n = size * nmemb;

	if (n > u->left)
		n = u->left;
	memcpy(buf, u->p, n);
	u->p += n;
	u->left -= n;
	return n;
}

/* A reply line; a final one ("250 ", not "250-") answers the command. */
static void
smtp_reply_line(struct smtp_replies *r, const char *p, size_t n)
{
	while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	snprintf(r->last, sizeof r->last, "%.*s", (int)(n > 400 ? 400 : n),
	    p);
	if (r->rcpt[0] == '\0' || (n > 3 && p[3] == '-'))
		return;
	if (n >= 3 && (p[0] == '4' || p[0] == '5')) {
		if (r->nrefused++ > 0)
			buf_addstr(&r->refused, ", ");
		buf_printf(&r->refused, "%s (%.*s)", r->rcpt,
		    (int)(n > 200 ? 200 : n), p);
		if (p[0] == '4')
			r->refused_temp = true;
	}
	r->rcpt[0] = '\0';
}

static int
smtp_debug_cb(CURL *c, curl_infotype type, char *p, size_t n, void *arg)
{
	struct smtp_replies	*r = arg;
	const char		*lt, *gt, *end;

	(void)c;
	if (type == CURLINFO_HEADER_OUT && n > 9 &&
	    strncasecmp(p, "RCPT TO:<", 9) == 0) {
		lt = p + 8;
		if ((gt = memchr(lt, '>', n - 8)) != NULL)
			snprintf(r->rcpt, sizeof r->rcpt, "%.*s",
			    (int)(gt - lt - 1), lt + 1);
	} else if (type == CURLINFO_HEADER_IN) {
		/* Normally one line per call; split in case of more. */
		while (n > 0) {
			end = memchr(p, '\n', n);
			end = end != NULL ? end + 1 : p + n;
			smtp_reply_line(r, p, (size_t)(end - p));
			n -= (size_t)(end - p);
			p += end - p;
		}
	}
	return 0;
}

static void
smtp_setup_auth(CURL *c, const struct conf_smtp *s, const char *password)
{
	char	*opts;

	if (s->user == NULL)
		return;
	curl_easy_setopt(c, CURLOPT_USERNAME, s->user);
	curl_easy_setopt(c, CURLOPT_PASSWORD, password);
	opts = xasprintf("AUTH=%s", s->auth != NULL ? s->auth : "PLAIN");
	curl_easy_setopt(c, CURLOPT_LOGIN_OPTIONS, opts);
	free(opts);
}

static enum smtp_result
smtp_classify(CURL *c, CURLcode rc, struct smtp_replies *r, size_t nrcpts,
    char **cause)
{
	const char	*last = r->last;
	long		 code = 0;

	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_OK && r->nrefused == 0)
		return SMTP_OK;
	if (rc == CURLE_OK) {
		*cause = xasprintf("smtp: sent, but %zu of %zu recipients "
		    "refused: %s", r->nrefused, nrcpts, r->refused.data);
		return SMTP_PARTIAL;
	}
	if (r->nrefused == nrcpts) {
		*cause = xasprintf("smtp: every recipient refused: %s",
		    r->refused.data);
		return r->refused_temp ? SMTP_TEMP : SMTP_PERM;
	}
	/* Not sent at all; name the refused recipients too, if any. */
	*cause = xasprintf("smtp: %s%s%s%s%s", curl_easy_strerror(rc),
	    *last != '\0' ? ": " : "", last, r->nrefused > 0 ?
	    "; refused: " : "", r->nrefused > 0 ? r->refused.data : "");
	if (rc == CURLE_LOGIN_DENIED || rc == CURLE_USE_SSL_FAILED)
		return SMTP_TEMP;	/* the config, not the message */
	if (code >= 500 && code < 600)
		return SMTP_PERM;
	return SMTP_TEMP;
}

enum smtp_result
smtp_send(const struct conf_smtp *s, const char *mail_from,
    const char *const *rcpts, size_t nrcpts, const char *data, size_t len,
    char **cause)
{
	struct smtp_upload	 up = { data, len };
	struct smtp_replies	 replies;
	struct curl_slist	*list = NULL;
	char			*password = NULL, *from = NULL;
	enum smtp_result	 res = SMTP_PERM;
	CURL			*c;
	CURLcode		 rc;
	size_t			 i;

	memset(&replies, 0, sizeof replies);
	buf_init(&replies.refused, 8192);
	if (nrcpts == 0) {
		*cause = xstrdup("smtp: no recipient");
		return SMTP_PERM;
	}
	if (!smtp_address_valid(mail_from, true)) {
		*cause = xstrdup("smtp: invalid sender address");
		return SMTP_PERM;
	}
	for (i = 0; i < nrcpts; i++) {
		if (!smtp_address_valid(rcpts[i], false)) {
			*cause = xasprintf("smtp: invalid recipient address "
			    "'%.100s'", rcpts[i]);
			goto out;
		}
		list = curl_slist_append(list, rcpts[i]);
	}
	if (s->user != NULL && secret_get(&s->password, &password, cause) != 0) {
		res = SMTP_TEMP;
		goto out;
	}
	if ((c = curl_easy_init()) == NULL)
		fatal("curl_easy_init");
	from = xasprintf("<%s>", mail_from);
	curl_easy_setopt(c, CURLOPT_URL, s->url);
	curl_easy_setopt(c, CURLOPT_USE_SSL, s->tls == TLS_NONE ?
	    (long)CURLUSESSL_NONE : (long)CURLUSESSL_ALL);
	if (s->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
	if (!s->tls_verify) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	smtp_setup_auth(c, s, password);
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, list);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, smtp_read_cb);
	curl_easy_setopt(c, CURLOPT_READDATA, &up);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, smtp_debug_cb);
	curl_easy_setopt(c, CURLOPT_DEBUGDATA, &replies);
	curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)(s->timeout_seconds ?
	    s->timeout_seconds : 120));
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc = net_perform(c);
	res = smtp_classify(c, rc, &replies, nrcpts, cause);
	curl_easy_cleanup(c);
out:
	if (password != NULL) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	free(from);
	curl_slist_free_all(list);
	buf_free(&replies.refused);
	return res;
}
