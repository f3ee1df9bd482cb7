/*
 * webhook: POST a JSON document to an HTTP(S) URL with libcurl.
 *
 * Body: the rule's rendered body template when it has one (rule loading
 * made sure it is JSON), else the document of http-doc.h.
 *
 * Headers: Content-Type: application/json; X-Facteur-Delivery, a digest of
 * the action's journal identity, the same on every retry, so a receiver
 * can drop a delivery it already has; X-Facteur-Signature: sha256=HEX, the
 * HMAC-SHA256 of the body with the secret as key, when the rule names a
 * secret (read at each delivery with secret_get(): a rotated secret is
 * used at once; it never appears in a log or an error; a relative
 * {file: PATH} is taken from the config file's directory).
 *
 * Results: a 2xx status is success. 5xx, 408, 429, a timeout or a
 * connection that fails in any other way are retried (ACTION_TEMP);
 * another status (a 3xx too: redirects are not followed, a POST must not
 * be silently turned into a GET) is permanent, as is a URL libcurl
 * refuses. A secret that cannot be read is temporary: the variable, file
 * or command may be back by the next attempt.
 *
 * TLS: always verified. Trusted: the system's CAs, plus the account's
 * ca_file when it has one (a private CA often signs both the mail server
 * and the internal receivers). Only http and https are allowed, also on
 * redirects (which are not followed anyway).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "action.h"
#include "conf.h"
#include "exec-dir.h"
#include "http-doc.h"
#include "log.h"
#include "net.h"
#include "xmalloc.h"

#define WEBHOOK_REPLY_MAX	512	/* bytes of the reply kept for a log */
#define WEBHOOK_CA_PATH		"/etc/ssl/certs"

struct reply_buf {
	char	 data[WEBHOOK_REPLY_MAX + 1];
	size_t	 len;
};

static enum action_result webhook_exec(struct action_ctx *, json_t *,
		    char **);
static int	 webhook_secret(const struct conf *, json_t *, char **,
		    char **);
static char	*webhook_signature(const char *, const char *, size_t);
static char	*webhook_delivery(const char *);
static size_t	 reply_write(char *, size_t, size_t, void *);
static enum action_result webhook_post(struct action_ctx *, const char *,
		    const char *, size_t, struct curl_slist *, long,
		    char **);
static void	 hex(const unsigned char *, size_t, char *);

const struct action_ops action_webhook_ops = { "webhook", webhook_exec };

static void
hex(const unsigned char *p, size_t len, char *out)
{
	static const char	 digits[] = "0123456789abcdef";
	size_t			 i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * len] = '\0';
}

/*
 * The secret's value from the plan's {env|file|command} spec. A relative
 * file is taken from the config file's directory.
 */
static int
webhook_secret(const struct conf *conf, json_t *spec, char **out,
    char **cause)
{
	struct secret	 s;
	json_t		*argv, *v;
	char		*path = NULL;
	size_t		 i;
	int		 rc;

	memset(&s, 0, sizeof s);
	if ((v = json_object_get(spec, "env")) != NULL) {
		s.kind = SECRET_ENV;
		s.value = (char *)(uintptr_t)json_string_value(v);
	} else if ((v = json_object_get(spec, "file")) != NULL) {
		s.kind = SECRET_FILE;
		if (json_string_value(v) != NULL)
			s.value = path = exec_conf_path(conf,
			    json_string_value(v));
	} else if (json_is_array(argv = json_object_get(spec, "command")) &&
	    json_array_size(argv) > 0) {
		s.kind = SECRET_COMMAND;
		s.argv = xcalloc(json_array_size(argv) + 1, sizeof *s.argv);
		json_array_foreach(argv, i, v)
			s.argv[i] = (char *)(uintptr_t)(json_string_value(v) !=
			    NULL ? json_string_value(v) : "");
		s.value = s.argv[0];
	}
	if (s.kind == SECRET_NONE || s.value == NULL) {
		free(s.argv);
		*cause = xstrdup("the secret's source is not understood");
		return -1;
	}
	rc = secret_get(&s, out, cause);
	free(s.argv);
	free(path);
	return rc;
}

/* "sha256=" + hex HMAC-SHA256 of the body. */
static char *
webhook_signature(const char *key, const char *body, size_t len)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	char		 out[2 * EVP_MAX_MD_SIZE + 1];

	if (HMAC(EVP_sha256(), key, (int)strlen(key),
	    (const unsigned char *)body, len, md, &mdlen) == NULL)
		fatal("webhook: HMAC-SHA256 failed");
	hex(md, mdlen, out);
	OPENSSL_cleanse(md, sizeof md);
	return xasprintf("X-Facteur-Signature: sha256=%s", out);
}

static char *
webhook_delivery(const char *ident)
{
	unsigned char	 md[SHA256_DIGEST_LENGTH];
	char		 out[2 * SHA256_DIGEST_LENGTH + 1];

	SHA256((const unsigned char *)ident, strlen(ident), md);
	hex(md, 16, out);
	return xasprintf("X-Facteur-Delivery: %s", out);
}

/* Keep the start of the reply for the log; drop the rest. */
static size_t
reply_write(char *p, size_t size, size_t n, void *arg)
{
	struct reply_buf	*r = arg;
	size_t			 len = size * n, take;

	take = WEBHOOK_REPLY_MAX - r->len;
	if (take > len)
		take = len;
	memcpy(r->data + r->len, p, take);
	r->len += take;
	r->data[r->len] = '\0';
	return len;
}

static enum action_result
webhook_post(struct action_ctx *ctx, const char *url, const char *body,
    size_t len, struct curl_slist *headers, long timeout, char **cause)
{
	struct reply_buf	 reply;
	char			 errbuf[CURL_ERROR_SIZE];
	CURL			*c;
	CURLcode		 rc;
	long			 status = 0;
	size_t			 i;

	if ((c = curl_easy_init()) == NULL)
		fatal("curl_easy_init failed");
	reply.len = 0;
	reply.data[0] = errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "facteur/" FACTEUR_VERSION);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout < 30 ? timeout :
	    30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, reply_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply);
	if (ctx->account->ca_file != NULL) {
		curl_easy_setopt(c, CURLOPT_CAINFO, ctx->account->ca_file);
		curl_easy_setopt(c, CURLOPT_CAPATH, WEBHOOK_CA_PATH);
	}
	rc = net_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		*cause = xasprintf("webhook %s: %s", url, errbuf[0] != '\0' ?
		    errbuf : curl_easy_strerror(rc));
		return rc == CURLE_URL_MALFORMAT ||
		    rc == CURLE_UNSUPPORTED_PROTOCOL ? ACTION_PERM :
		    ACTION_TEMP;
	}
	if (status >= 200 && status < 300) {
		log_info("%s: %s: uid %u: webhook %s: %ld",
		    ctx->account->name, ctx->mailbox, (unsigned)ctx->uid,
		    url, status);
		return ACTION_OK;
	}
	for (i = 0; i < reply.len; i++)
		if ((unsigned char)reply.data[i] < 0x20)
			reply.data[i] = ' ';
	*cause = xasprintf("webhook %s: HTTP %ld%s%.200s", url, status,
	    reply.len > 0 ? ": " : "", reply.data);
	return status >= 500 || status == 408 || status == 429 ?
	    ACTION_TEMP : ACTION_PERM;
}

static enum action_result
webhook_exec(struct action_ctx *ctx, json_t *fields, char **cause)
{
	struct curl_slist	*headers = NULL;
	enum action_result	 res;
	const char		*url, *body;
	char			*doc = NULL, *secret = NULL, *h, *err = NULL;
	json_t			*spec, *j;
	long			 timeout;

	if ((url = json_string_value(json_object_get(fields, "url"))) ==
	    NULL) {
		*cause = xstrdup("webhook: the plan has no url");
		return ACTION_PERM;
	}
	timeout = (long)json_integer_value(json_object_get(fields,
	    "timeout"));
	if (timeout <= 0)
		timeout = 30;
	if ((body = json_string_value(json_object_get(fields, "body"))) ==
	    NULL) {
		j = http_doc_new(ctx, fields);
		if ((doc = json_dumps(j, JSON_COMPACT)) == NULL)
			fatal("webhook: cannot encode the JSON document");
		json_decref(j);
		body = doc;
	}
	if ((spec = json_object_get(fields, "secret")) != NULL &&
	    webhook_secret(ctx->conf, spec, &secret, &err) != 0) {
		*cause = xasprintf("webhook %s: secret: %s", url, err);
		free(err);
		free(doc);
		return ACTION_TEMP;
	}
	headers = curl_slist_append(headers,
	    "Content-Type: application/json");
	headers = curl_slist_append(headers, "Expect:");
	h = webhook_delivery(ctx->ident);
	headers = curl_slist_append(headers, h);
	free(h);
	if (secret != NULL) {
		h = webhook_signature(secret, body, strlen(body));
		headers = curl_slist_append(headers, h);
		free(h);
		OPENSSL_cleanse(secret, strlen(secret));
		free(secret);
	}
	res = webhook_post(ctx, url, body, strlen(body), headers, timeout,
	    cause);
	curl_slist_free_all(headers);
	free(doc);
	return res;
}
