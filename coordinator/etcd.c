/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * etcd.c: the etcd v3 client through etcd's JSON gateway (etcd.h).
 *
 * Design notes
 *
 * Transport: libcurl's easy interface, not libevent's HTTP client.
 * Every call here blocks by contract (the election and the catalog
 * wait for etcd's answer before they go on), which is what curl's
 * easy interface does; libevent's evhttp would need a private event
 * base run to completion per call, our own connect and total timers,
 * and its own OpenSSL bufferevent set-up for client certificates and
 * host name checks, all of which curl does (CURLOPT_SSLCERT, CAINFO,
 * CONNECTTIMEOUT_MS, TIMEOUT_MS) and is widely used for.  One easy
 * handle per struct etcd keeps the TLS connection to the endpoint
 * alive between calls, so a keepalive every second costs no
 * handshake.
 *
 * The gateway: POST https://HOST:PORT/v3/<service>/<method> with the
 * request as JSON, answered with the response as JSON, or with an
 * HTTP error status and {"error": TEXT, "code": N, "message": TEXT}.
 * Keys and values are base64; int64 fields are JSON strings; fields
 * with their default value (0, false, empty) are left out, so a
 * missing field reads as its default.  /v3/lease/keepalive is a
 * stream in gRPC: the gateway takes one request and answers
 * {"result": {...}} (or {"error": {...}}).
 *
 * Endpoints: a call starts with the endpoint that answered last and
 * goes round the list once.  A transport failure (connect refused,
 * TLS failure, timeout) moves to the next endpoint; an answer from
 * etcd, even an error, ends the call (the members share one store, so
 * another one would say the same).  A txn retried after a timeout may
 * have been applied by the first member: callers guard their txns with
 * compares that make a second application fail (catalog-etcd.c
 * checks what a refused append finds).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "etcd.h"
#include "jsonrpc.h"

struct etcd {
  char **endpoints;
  size_t nendpoints;
  size_t current;               /* the endpoint tried first */
  char *ca, *certificate, *key;
  int timeout_ms;
  CURL *curl;
  struct curl_slist *headers;
};

/* The most an answer may hold: a range of the catalog's log is read in
 * pages well below this. */
#define ETCD_MAX_ANSWER (64 * 1024 * 1024)

/* Base64. */

static char *
b64_encode (const void *data, size_t len)
{
  char *out = malloc (4 * ((len + 2) / 3) + 1);

  if (out == NULL)
    return NULL;
  EVP_EncodeBlock ((unsigned char *) out, data, (int) len);
  return out;
}

/* Decode S into a new buffer of *LEN bytes plus a NUL.  NULL with
 * errno EPROTO if S is not base64, ENOMEM. */
static void *
b64_decode (const char *s, size_t *len)
{
  size_t n = strlen (s), pad = 0;
  unsigned char *out;
  int r;

  if (n % 4 != 0) {
    errno = EPROTO;
    return NULL;
  }
  out = malloc (n / 4 * 3 + 1);
  if (out == NULL)
    return NULL;
  r = n ? EVP_DecodeBlock (out, (const unsigned char *) s, (int) n) : 0;
  if (r < 0) {
    free (out);
    errno = EPROTO;
    return NULL;
  }
  if (n >= 1 && s[n - 1] == '=')
    pad++;
  if (n >= 2 && s[n - 2] == '=')
    pad++;
  *len = (size_t) r - pad;
  out[*len] = '\0';
  return out;
}

/* The key after every key that starts with PREFIX, as etcd's
 * range_end wants it: PREFIX with its last byte below 0xff incremented
 * and the rest dropped; "\0" (every key) when there is none. */
static char *
prefix_end (const char *prefix, size_t *len)
{
  size_t n = strlen (prefix);
  char *end = malloc (n + 1);

  if (end == NULL)
    return NULL;
  memcpy (end, prefix, n + 1);
  while (n > 0) {
    if ((unsigned char) end[n - 1] < 0xff) {
      end[n - 1]++;
      *len = n;
      return end;
    }
    n--;
  }
  end[0] = '\0';
  *len = 1;
  return end;
}

/* JSON helpers. */

static int
set_b64 (json_t *obj, const char *name, const void *data, size_t len)
{
  char *s = b64_encode (data, len);
  int r;

  if (s == NULL)
    return -1;
  r = json_object_set_new (obj, name, json_string (s));
  free (s);
  return r;
}

static int
set_int64 (json_t *obj, const char *name, int64_t v)
{
  char s[32];

  snprintf (s, sizeof s, "%" PRId64, v);
  return json_object_set_new (obj, name, json_string (s));
}

/* The int64 member NAME of OBJ, a string of digits or (leniently) a
 * number; 0 when absent.  -1 if it is something else. */
static int
get_int64 (json_t *obj, const char *name, int64_t *v)
{
  json_t *m = json_object_get (obj, name);
  const char *s;
  char *end;

  *v = 0;
  if (m == NULL || json_is_null (m))
    return 0;
  if (json_is_integer (m)) {
    *v = json_integer_value (m);
    return 0;
  }
  if (!json_is_string (m))
    return -1;
  s = json_string_value (m);
  errno = 0;
  *v = strtoll (s, &end, 10);
  if (errno != 0 || end == s || *end != '\0')
    return -1;
  return 0;
}

/* The revision in OBJ's header. */
static int
get_revision (json_t *obj, int64_t *revision)
{
  int64_t rev;

  if (get_int64 (json_object_get (obj, "header"), "revision", &rev) == -1)
    return -1;
  if (revision)
    *revision = rev;
  return 0;
}

/* Opening. */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void
curl_init_once (void)
{
  curl_init_result = curl_global_init (CURL_GLOBAL_DEFAULT);
}

/* Is URL https://HOST:PORT with a port and nothing after it? */
static bool
endpoint_ok (const char *url)
{
  const char *hostport, *colon;
  char *end;
  long port;

  if (strncmp (url, "https://", 8) != 0)
    return false;
  hostport = url + 8;
  if (*hostport == '[') {
    const char *close = strchr (hostport, ']');

    if (close == NULL || close[1] != ':')
      return false;
    colon = close + 1;
  }
  else {
    colon = strrchr (hostport, ':');
    if (colon == NULL || colon == hostport || strchr (hostport, '/'))
      return false;
  }
  errno = 0;
  port = strtol (colon + 1, &end, 10);
  return errno == 0 && end != colon + 1 && *end == '\0' &&
    port > 0 && port < 65536;
}

static char *
dup_or_null (const char *s, bool *failed)
{
  char *d;

  if (s == NULL)
    return NULL;
  d = strdup (s);
  if (d == NULL)
    *failed = true;
  return d;
}

struct etcd *
etcd_open (const struct etcd_conf *conf, char *err, size_t errlen)
{
  struct etcd *e;
  bool failed = false;
  size_t i;

  if (conf->nendpoints == 0) {
    jsonrpc_seterr (err, errlen, "etcd: no endpoint given");
    errno = EINVAL;
    return NULL;
  }
  for (i = 0; i < conf->nendpoints; i++)
    if (!endpoint_ok (conf->endpoints[i])) {
      jsonrpc_seterr (err, errlen, "etcd endpoint %s: not https://HOST:PORT",
                      conf->endpoints[i]);
      errno = EINVAL;
      return NULL;
    }
  pthread_once (&curl_once, curl_init_once);
  if (curl_init_result != CURLE_OK) {
    jsonrpc_seterr (err, errlen, "etcd: curl_global_init: %s",
                    curl_easy_strerror (curl_init_result));
    errno = ENOMEM;
    return NULL;
  }
  e = calloc (1, sizeof *e);
  if (e == NULL)
    goto nomem;
  e->endpoints = calloc (conf->nendpoints, sizeof *e->endpoints);
  if (e->endpoints == NULL)
    goto nomem;
  e->nendpoints = conf->nendpoints;
  for (i = 0; i < conf->nendpoints; i++)
    e->endpoints[i] = dup_or_null (conf->endpoints[i], &failed);
  e->ca = dup_or_null (conf->ca, &failed);
  e->certificate = dup_or_null (conf->certificate, &failed);
  e->key = dup_or_null (conf->key, &failed);
  e->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms
    : ETCD_DEFAULT_TIMEOUT_MS;
  e->curl = curl_easy_init ();
  e->headers = curl_slist_append (NULL, "Content-Type: application/json");
  if (failed || e->curl == NULL || e->headers == NULL)
    goto nomem;
  return e;

 nomem:
  jsonrpc_seterr (err, errlen, "etcd: out of memory");
  etcd_close (e);
  errno = ENOMEM;
  return NULL;
}

void
etcd_close (struct etcd *e)
{
  size_t i;

  if (e == NULL)
    return;
  if (e->curl)
    curl_easy_cleanup (e->curl);
  curl_slist_free_all (e->headers);
  for (i = 0; e->endpoints && i < e->nendpoints; i++)
    free (e->endpoints[i]);
  free (e->endpoints);
  free (e->ca);
  free (e->certificate);
  free (e->key);
  free (e);
}

const char *
etcd_endpoint (const struct etcd *e)
{
  return e->endpoints[e->current];
}

/* Calls. */

struct answer {
  char *data;
  size_t len, size;
  bool too_big;
};

static size_t
answer_write (char *ptr, size_t size, size_t nmemb, void *arg)
{
  struct answer *a = arg;
  size_t n = size * nmemb;

  if (a->len + n + 1 > ETCD_MAX_ANSWER) {
    a->too_big = true;
    return 0;
  }
  if (a->len + n + 1 > a->size) {
    size_t want = a->size ? a->size : 4096;
    char *d;

    while (want < a->len + n + 1)
      want *= 2;
    d = realloc (a->data, want);
    if (d == NULL)
      return 0;
    a->data = d;
    a->size = want;
  }
  memcpy (a->data + a->len, ptr, n);
  a->len += n;
  a->data[a->len] = '\0';
  return n;
}

static int
curl_errno (CURLcode c)
{
  switch (c) {
  case CURLE_OPERATION_TIMEDOUT:
    return ETIMEDOUT;
  case CURLE_COULDNT_CONNECT:
    return ECONNREFUSED;
  case CURLE_COULDNT_RESOLVE_HOST:
    return EHOSTUNREACH;
  case CURLE_OUT_OF_MEMORY:
    return ENOMEM;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CACERT_BADFILE:
    return EPROTO;
  default:
    return EIO;
  }
}

/* One attempt of POST PATH with BODY on endpoint I.  0 with the
 * answer's status in *STATUS and its body in A; -1 with errno and the
 * transport's message in MSG. */
static int
attempt (struct etcd *e, size_t i, const char *path, const char *body,
         struct answer *a, long *status, char *msg, size_t msglen)
{
  char url[1024], curlerr[CURL_ERROR_SIZE];
  CURL *c = e->curl;
  CURLcode r;

  snprintf (url, sizeof url, "%s%s", e->endpoints[i], path);
  curl_easy_reset (c);
  curlerr[0] = '\0';
  if (curl_easy_setopt (c, CURLOPT_URL, url) != CURLE_OK ||
      curl_easy_setopt (c, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
      curl_easy_setopt (c, CURLOPT_HTTPHEADER, e->headers) != CURLE_OK ||
      curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
      curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, (long) e->timeout_ms)
      != CURLE_OK ||
      curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT_MS, (long) e->timeout_ms)
      != CURLE_OK ||
      curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
      curl_easy_setopt (c, CURLOPT_ERRORBUFFER, curlerr) != CURLE_OK ||
      curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, answer_write) != CURLE_OK ||
      curl_easy_setopt (c, CURLOPT_WRITEDATA, a) != CURLE_OK ||
      (e->ca &&
       curl_easy_setopt (c, CURLOPT_CAINFO, e->ca) != CURLE_OK) ||
      (e->certificate &&
       curl_easy_setopt (c, CURLOPT_SSLCERT, e->certificate) != CURLE_OK) ||
      (e->key &&
       curl_easy_setopt (c, CURLOPT_SSLKEY, e->key) != CURLE_OK)) {
    snprintf (msg, msglen, "curl_easy_setopt failed");
    errno = EINVAL;
    return -1;
  }
  r = curl_easy_perform (c);
  /* CURLERR and A live on this call's stack only. */
  curl_easy_setopt (c, CURLOPT_ERRORBUFFER, NULL);
  if (r != CURLE_OK) {
    if (a->too_big)
      snprintf (msg, msglen, "answer larger than %d bytes", ETCD_MAX_ANSWER);
    else
      snprintf (msg, msglen, "%s", curlerr[0] ? curlerr
                : curl_easy_strerror (r));
    errno = a->too_big ? EPROTO : curl_errno (r);
    return -1;
  }
  curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, status);
  return 0;
}

/* etcd's own text for an error answer BODY (or its first bytes). */
static void
error_text (json_t *body, const char *raw, char *out, size_t outlen)
{
  json_t *error = json_object_get (body, "error");
  const char *s = NULL;

  if (json_is_object (error))           /* keepalive: {"error": {...}} */
    body = error, error = json_object_get (error, "error");
  if (json_is_string (error))
    s = json_string_value (error);
  else if (json_is_string (json_object_get (body, "message")))
    s = json_string_value (json_object_get (body, "message"));
  if (s)
    snprintf (out, outlen, "%s", s);
  else
    snprintf (out, outlen, "%.200s", raw ? raw : "");
}

/* POST REQ (consumed) to PATH on the endpoints in turn; the answer,
 * parsed, in *RESP (new reference).  WHAT names the call in errors.
 * -1 with errno and ERR set otherwise. */
static int
call (struct etcd *e, const char *path, json_t *req, json_t **resp,
      const char *what, char *err, size_t errlen)
{
  char tried[2048] = "", msg[512];
  size_t k, used = 0;
  char *body;
  int saved = EIO;

  *resp = NULL;
  body = req ? json_dumps (req, JSON_COMPACT) : NULL;
  json_decref (req);
  if (body == NULL) {
    jsonrpc_seterr (err, errlen, "etcd %s: out of memory", what);
    errno = ENOMEM;
    return -1;
  }
  for (k = 0; k < e->nendpoints; k++) {
    size_t i = (e->current + k) % e->nendpoints;
    struct answer a = { 0 };
    json_error_t jerr;
    long status = 0;
    json_t *j;

    if (attempt (e, i, path, body, &a, &status, msg, sizeof msg) == -1) {
      saved = errno;
      free (a.data);
      if (used < sizeof tried)
        used += (size_t) snprintf (tried + used, sizeof tried - used,
                                   "%s%s: %s", used ? "; " : "",
                                   e->endpoints[i], msg);
      continue;
    }
    /* Someone answered: this endpoint goes first from now on. */
    e->current = i;
    j = a.data ? json_loads (a.data, 0, &jerr) : NULL;
    if (status != 200 || !json_is_object (j) ||
        json_object_get (j, "error") != NULL) {
      error_text (j, a.data, msg, sizeof msg);
      if (status != 200)
        jsonrpc_seterr (err, errlen, "etcd %s: %s: HTTP %ld: %s", what,
                        e->endpoints[i], status, msg);
      else
        jsonrpc_seterr (err, errlen, "etcd %s: %s: %s", what, e->endpoints[i],
                        j ? msg : "answer is not JSON");
      errno = status != 200 || j ? EIO : EPROTO;
      json_decref (j);
      free (a.data);
      free (body);
      return -1;
    }
    free (a.data);
    free (body);
    *resp = j;
    return 0;
  }
  free (body);
  jsonrpc_seterr (err, errlen, "etcd %s: no endpoint answered: %s", what,
                  tried);
  errno = saved;
  return -1;
}

static int
bad_answer (struct etcd *e, json_t *resp, const char *what, char *err,
            size_t errlen)
{
  jsonrpc_seterr (err, errlen, "etcd %s: %s: unexpected answer", what,
                  etcd_endpoint (e));
  json_decref (resp);
  errno = EPROTO;
  return -1;
}

static json_t *
no_memory (const char *what, char *err, size_t errlen)
{
  jsonrpc_seterr (err, errlen, "etcd %s: out of memory", what);
  errno = ENOMEM;
  return NULL;
}

/* Leases. */

int
etcd_lease_grant (struct etcd *e, int64_t ttl_s, int64_t *lease,
                  char *err, size_t errlen)
{
  json_t *req = json_object (), *resp;
  int64_t id;

  if (req == NULL || set_int64 (req, "TTL", ttl_s) == -1) {
    json_decref (req);
    no_memory ("lease grant", err, errlen);
    return -1;
  }
  if (call (e, "/v3/lease/grant", req, &resp, "lease grant", err,
            errlen) == -1)
    return -1;
  if (get_int64 (resp, "ID", &id) == -1 || id == 0)
    return bad_answer (e, resp, "lease grant", err, errlen);
  *lease = id;
  json_decref (resp);
  return 0;
}

int
etcd_lease_keepalive (struct etcd *e, int64_t lease, int64_t *ttl_left,
                      char *err, size_t errlen)
{
  json_t *req = json_object (), *resp, *result;
  int64_t ttl;

  if (req == NULL || set_int64 (req, "ID", lease) == -1) {
    json_decref (req);
    no_memory ("lease keepalive", err, errlen);
    return -1;
  }
  if (call (e, "/v3/lease/keepalive", req, &resp, "lease keepalive", err,
            errlen) == -1)
    return -1;
  result = json_object_get (resp, "result");
  if (!json_is_object (result) || get_int64 (result, "TTL", &ttl) == -1)
    return bad_answer (e, resp, "lease keepalive", err, errlen);
  *ttl_left = ttl > 0 ? ttl : 0;
  json_decref (resp);
  return 0;
}

int
etcd_lease_revoke (struct etcd *e, int64_t lease, char *err, size_t errlen)
{
  json_t *req = json_object (), *resp;

  if (req == NULL || set_int64 (req, "ID", lease) == -1) {
    json_decref (req);
    no_memory ("lease revoke", err, errlen);
    return -1;
  }
  if (call (e, "/v3/lease/revoke", req, &resp, "lease revoke", err,
            errlen) == -1) {
    /* Gone already (expired, or revoked by an earlier attempt). */
    if (errno == EIO && errlen > 0 &&
        strstr (err, "requested lease not found") != NULL) {
      err[0] = '\0';
      return 0;
    }
    return -1;
  }
  json_decref (resp);
  return 0;
}

/* Keys. */

void
etcd_kv_free (struct etcd_kv *kv)
{
  if (kv == NULL)
    return;
  free (kv->key);
  free (kv->value);
  memset (kv, 0, sizeof *kv);
}

void
etcd_kvs_free (struct etcd_kv *kvs, size_t n)
{
  size_t i;

  for (i = 0; kvs && i < n; i++)
    etcd_kv_free (&kvs[i]);
  free (kvs);
}

/* Fill KV from the answer's kv object J.  -1 with errno EPROTO or
 * ENOMEM. */
static int
kv_from_json (json_t *j, struct etcd_kv *kv)
{
  const char *key = json_string_value (json_object_get (j, "key"));
  const char *value = json_string_value (json_object_get (j, "value"));
  size_t keylen;

  memset (kv, 0, sizeof *kv);
  if (!json_is_object (j) || key == NULL ||
      get_int64 (j, "create_revision", &kv->create_revision) == -1 ||
      get_int64 (j, "mod_revision", &kv->mod_revision) == -1 ||
      get_int64 (j, "lease", &kv->lease) == -1) {
    errno = EPROTO;
    return -1;
  }
  kv->key = b64_decode (key, &keylen);
  kv->value = b64_decode (value ? value : "", &kv->len);
  if (kv->key == NULL || kv->value == NULL ||
      memchr (kv->key, '\0', keylen) != NULL) {
    int saved = errno;

    if (kv->key && kv->value)
      saved = EPROTO;
    etcd_kv_free (kv);
    errno = saved;
    return -1;
  }
  return 0;
}

/* Range over [KEY, END) (END NULL: KEY only); LAST: only the last
 * key, without its value. */
static int
range (struct etcd *e, const char *key, const void *end, size_t endlen,
       int64_t limit, bool last, struct etcd_kv **kvs, size_t *n,
       int64_t *revision, const char *what, char *err, size_t errlen)
{
  json_t *req = json_object (), *resp, *array, *v;
  struct etcd_kv *out = NULL;
  size_t i, count;

  *kvs = NULL;
  *n = 0;
  if (req == NULL || set_b64 (req, "key", key, strlen (key)) == -1 ||
      (end && set_b64 (req, "range_end", end, endlen) == -1) ||
      (limit > 0 && set_int64 (req, "limit", limit) == -1) ||
      (last &&
       (json_object_set_new (req, "sort_order",
                             json_string ("DESCEND")) == -1 ||
        json_object_set_new (req, "sort_target", json_string ("KEY")) == -1 ||
        json_object_set_new (req, "keys_only", json_true ()) == -1))) {
    json_decref (req);
    no_memory (what, err, errlen);
    return -1;
  }
  if (call (e, "/v3/kv/range", req, &resp, what, err, errlen) == -1)
    return -1;
  array = json_object_get (resp, "kvs");
  if ((array != NULL && !json_is_array (array)) ||
      get_revision (resp, revision) == -1)
    return bad_answer (e, resp, what, err, errlen);
  count = json_array_size (array);
  if (count > 0) {
    out = calloc (count, sizeof *out);
    if (out == NULL) {
      json_decref (resp);
      no_memory (what, err, errlen);
      return -1;
    }
  }
  json_array_foreach (array, i, v)
    if (kv_from_json (v, &out[i]) == -1) {
      int saved = errno;

      etcd_kvs_free (out, i);
      if (saved == ENOMEM) {
        json_decref (resp);
        no_memory (what, err, errlen);
        return -1;
      }
      return bad_answer (e, resp, what, err, errlen);
    }
  json_decref (resp);
  *kvs = out;
  *n = count;
  return 0;
}

int
etcd_get (struct etcd *e, const char *key, struct etcd_kv *kv, bool *found,
          int64_t *revision, char *err, size_t errlen)
{
  char what[300];
  struct etcd_kv *kvs;
  size_t n;

  snprintf (what, sizeof what, "get %s", key);
  memset (kv, 0, sizeof *kv);
  if (range (e, key, NULL, 0, 0, false, &kvs, &n, revision, what, err,
             errlen) == -1)
    return -1;
  *found = n > 0;
  if (n > 0) {
    *kv = kvs[0];
    memset (&kvs[0], 0, sizeof kvs[0]);
  }
  etcd_kvs_free (kvs, n);
  return 0;
}

int
etcd_range (struct etcd *e, const char *prefix, const char *from,
            int64_t limit, struct etcd_kv **kvs, size_t *n,
            int64_t *revision, char *err, size_t errlen)
{
  char what[300];
  size_t endlen;
  char *end = prefix_end (prefix, &endlen);
  int r;

  snprintf (what, sizeof what, "range %s", prefix);
  if (end == NULL) {
    no_memory (what, err, errlen);
    return -1;
  }
  r = range (e, from ? from : prefix, end, endlen, limit, false, kvs, n,
             revision, what, err, errlen);
  free (end);
  return r;
}

int
etcd_last_key (struct etcd *e, const char *prefix, struct etcd_kv *kv,
               bool *found, char *err, size_t errlen)
{
  char what[300];
  struct etcd_kv *kvs;
  size_t endlen, n;
  char *end = prefix_end (prefix, &endlen);
  int r;

  snprintf (what, sizeof what, "last key of %s", prefix);
  memset (kv, 0, sizeof *kv);
  if (end == NULL) {
    no_memory (what, err, errlen);
    return -1;
  }
  r = range (e, prefix, end, endlen, 1, true, &kvs, &n, NULL, what, err,
             errlen);
  free (end);
  if (r == -1)
    return -1;
  *found = n > 0;
  if (n > 0) {
    *kv = kvs[0];
    memset (&kvs[0], 0, sizeof kvs[0]);
  }
  etcd_kvs_free (kvs, n);
  return 0;
}

/* Transactions. */

static json_t *
cmp_json (const struct etcd_cmp *c)
{
  static const char *const targets[] = { "CREATE", "MOD", "VALUE" };
  json_t *j = json_object ();

  if (j == NULL || (unsigned) c->target > ETCD_VALUE ||
      set_b64 (j, "key", c->key, strlen (c->key)) == -1 ||
      json_object_set_new (j, "target",
                           json_string (targets[c->target])) == -1 ||
      json_object_set_new (j, "result", json_string ("EQUAL")) == -1 ||
      (c->target == ETCD_CREATE &&
       set_int64 (j, "create_revision", c->revision) == -1) ||
      (c->target == ETCD_MOD &&
       set_int64 (j, "mod_revision", c->revision) == -1) ||
      (c->target == ETCD_VALUE &&
       set_b64 (j, "value", c->value, c->len) == -1)) {
    json_decref (j);
    return NULL;
  }
  return j;
}

static json_t *
op_json (const struct etcd_op *op)
{
  json_t *j = json_object (), *inner = json_object ();
  size_t endlen;
  char *end;

  if (j == NULL || inner == NULL ||
      set_b64 (inner, "key", op->key, strlen (op->key)) == -1)
    goto err;
  switch (op->kind) {
  case ETCD_PUT:
    if (set_b64 (inner, "value", op->value, op->len) == -1 ||
        (op->lease != 0 && set_int64 (inner, "lease", op->lease) == -1) ||
        json_object_set (j, "request_put", inner) == -1)
      goto err;
    break;
  case ETCD_DELETE_RANGE:
    if (op->range_end == NULL ||
        set_b64 (inner, "range_end", op->range_end,
                 strlen (op->range_end)) == -1 ||
        json_object_set (j, "request_delete_range", inner) == -1)
      goto err;
    break;
  case ETCD_DELETE_PREFIX:
    end = prefix_end (op->key, &endlen);
    if (end == NULL || set_b64 (inner, "range_end", end, endlen) == -1) {
      free (end);
      goto err;
    }
    free (end);
    /* fall through */
  case ETCD_DELETE:
    if (json_object_set (j, "request_delete_range", inner) == -1)
      goto err;
    break;
  default:
    goto err;
  }
  json_decref (inner);
  return j;

 err:
  json_decref (inner);
  json_decref (j);
  return NULL;
}

static json_t *
txn_request (const struct etcd_cmp *cmps, size_t ncmps,
             const struct etcd_op *ops, size_t nops)
{
  json_t *req = json_object (), *compare = json_array (),
    *success = json_array ();
  size_t i;

  if (req == NULL || compare == NULL || success == NULL)
    goto err;
  for (i = 0; i < ncmps; i++)
    if (json_array_append_new (compare, cmp_json (&cmps[i])) == -1)
      goto err;
  for (i = 0; i < nops; i++)
    if (json_array_append_new (success, op_json (&ops[i])) == -1)
      goto err;
  if (json_object_set_new (req, "compare", compare) == -1) {
    compare = NULL;
    goto err;
  }
  compare = NULL;
  if (json_object_set_new (req, "success", success) == -1) {
    success = NULL;
    goto err;
  }
  return req;

 err:
  json_decref (compare);
  json_decref (success);
  json_decref (req);
  return NULL;
}

int
etcd_txn (struct etcd *e, const struct etcd_cmp *cmps, size_t ncmps,
          const struct etcd_op *ops, size_t nops, bool *succeeded,
          int64_t *revision, char *err, size_t errlen)
{
  json_t *req = txn_request (cmps, ncmps, ops, nops), *resp, *ok;

  if (req == NULL) {
    no_memory ("txn", err, errlen);
    return -1;
  }
  if (call (e, "/v3/kv/txn", req, &resp, "txn", err, errlen) == -1)
    return -1;
  ok = json_object_get (resp, "succeeded");
  if ((ok != NULL && !json_is_boolean (ok)) ||
      get_revision (resp, revision) == -1)
    return bad_answer (e, resp, "txn", err, errlen);
  *succeeded = json_is_true (ok);
  json_decref (resp);
  return 0;
}

int
etcd_put (struct etcd *e, const char *key, const void *value, size_t len,
          int64_t lease, char *err, size_t errlen)
{
  struct etcd_op op = {
    .kind = ETCD_PUT, .key = key, .value = value, .len = len, .lease = lease,
  };
  bool ok;

  return etcd_txn (e, NULL, 0, &op, 1, &ok, NULL, err, errlen);
}

int
etcd_delete (struct etcd *e, const char *key, bool prefix, int64_t *deleted,
             char *err, size_t errlen)
{
  json_t *req = json_object (), *resp;
  char what[300];
  size_t endlen;
  char *end = NULL;
  int64_t n;

  snprintf (what, sizeof what, "delete %s", key);
  if (prefix && (end = prefix_end (key, &endlen)) == NULL) {
    json_decref (req);
    no_memory (what, err, errlen);
    return -1;
  }
  if (req == NULL || set_b64 (req, "key", key, strlen (key)) == -1 ||
      (end && set_b64 (req, "range_end", end, endlen) == -1)) {
    free (end);
    json_decref (req);
    no_memory (what, err, errlen);
    return -1;
  }
  free (end);
  if (call (e, "/v3/kv/deleterange", req, &resp, what, err, errlen) == -1)
    return -1;
  if (get_int64 (resp, "deleted", &n) == -1)
    return bad_answer (e, resp, what, err, errlen);
  if (deleted)
    *deleted = n;
  json_decref (resp);
  return 0;
}
