/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * jsonrpc.c: JSON-RPC 2.0 framing, validation and message builders.
 *
 * Everything here handles bytes from a peer we do not trust: lengths
 * are checked before anything is copied, every member is type-checked
 * before use, and text we echo back in an error (a method name, a
 * parser's excerpt of the input) is capped and made valid UTF-8 so
 * that an answer can always be encoded.
 */

#include <config.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "jsonrpc.h"
#include "timespec.h"
#include "vector.h"

/* An error message longer than this is cut (on a character boundary)
 * and ends in "...": a request can make us echo a megabyte-long
 * method name, and the answer must still fit in one message. */
#define ERROR_MESSAGE_MAX 1024

/* Bytes read from a file descriptor at a time by jsonrpc_recv_fd. */
#define RECV_CHUNK 16384

void
jsonrpc_seterr (char *err, size_t errlen, const char *fmt, ...)
{
  int saved = errno;
  va_list ap;

  if (err == NULL || errlen == 0)
    return;
  va_start (ap, fmt);
  vsnprintf (err, errlen, fmt, ap);
  va_end (ap);
  errno = saved;
}

/* Errors. */

static const struct {
  int err;
  const char *name;
} errno_names[] = {
  { EPERM, "EPERM" },
  { ENOENT, "ENOENT" },
  { ESRCH, "ESRCH" },
  { EINTR, "EINTR" },
  { EIO, "EIO" },
  { ENXIO, "ENXIO" },
  { E2BIG, "E2BIG" },
  { EBADF, "EBADF" },
  { EAGAIN, "EAGAIN" },
  { ENOMEM, "ENOMEM" },
  { EACCES, "EACCES" },
  { EFAULT, "EFAULT" },
  { EBUSY, "EBUSY" },
  { EEXIST, "EEXIST" },
  { EXDEV, "EXDEV" },
  { ENODEV, "ENODEV" },
  { ENOTDIR, "ENOTDIR" },
  { EISDIR, "EISDIR" },
  { EINVAL, "EINVAL" },
  { ENFILE, "ENFILE" },
  { EMFILE, "EMFILE" },
  { ENOTTY, "ENOTTY" },
  { EFBIG, "EFBIG" },
  { ENOSPC, "ENOSPC" },
  { ESPIPE, "ESPIPE" },
  { EROFS, "EROFS" },
  { EMLINK, "EMLINK" },
  { EPIPE, "EPIPE" },
  { EDOM, "EDOM" },
  { ERANGE, "ERANGE" },
  { EDEADLK, "EDEADLK" },
  { ENAMETOOLONG, "ENAMETOOLONG" },
  { ENOLCK, "ENOLCK" },
  { ENOSYS, "ENOSYS" },
  { ENOTEMPTY, "ENOTEMPTY" },
  { ELOOP, "ELOOP" },
  { ETIME, "ETIME" },
  { EPROTO, "EPROTO" },
  { EBADMSG, "EBADMSG" },
  { EOVERFLOW, "EOVERFLOW" },
  { EILSEQ, "EILSEQ" },
  { ENOTSOCK, "ENOTSOCK" },
  { EMSGSIZE, "EMSGSIZE" },
  { EPROTONOSUPPORT, "EPROTONOSUPPORT" },
  { ENOTSUP, "ENOTSUP" },     /* == EOPNOTSUPP on Linux */
  { EADDRINUSE, "EADDRINUSE" },
  { ENETDOWN, "ENETDOWN" },
  { ENETUNREACH, "ENETUNREACH" },
  { ECONNABORTED, "ECONNABORTED" },
  { ECONNRESET, "ECONNRESET" },
  { ENOBUFS, "ENOBUFS" },
  { ENOTCONN, "ENOTCONN" },
  { ESHUTDOWN, "ESHUTDOWN" },
  { ETIMEDOUT, "ETIMEDOUT" },
  { ECONNREFUSED, "ECONNREFUSED" },
  { EHOSTUNREACH, "EHOSTUNREACH" },
  { EALREADY, "EALREADY" },
  { EINPROGRESS, "EINPROGRESS" },
  { ESTALE, "ESTALE" },
  { EDQUOT, "EDQUOT" },
  { ECANCELED, "ECANCELED" },
  { EUCLEAN, "EUCLEAN" },
};

const char *
jsonrpc_errno_name (int err)
{
  size_t i;

  for (i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
    if (errno_names[i].err == err)
      return errno_names[i].name;
  return NULL;
}

json_t *
jsonrpc_errno_data (int err)
{
  const char *name = jsonrpc_errno_name (err);

  if (name == NULL)
    return NULL;
  return json_pack ("{s:s}", "errno", name);
}

/* Which JSON-RPC error code each errno maps to; any other is
 * JSONRPC_INTERNAL_ERROR. */
static const struct {
  int err, code;
} errno_codes[] = {
  { ENOENT, SV_RPC_NOT_FOUND }, { ENODEV, SV_RPC_NOT_FOUND },
  { ENXIO, SV_RPC_NOT_FOUND },
  { EEXIST, SV_RPC_EXISTS },
  { EBUSY, SV_RPC_BUSY }, { ENOTEMPTY, SV_RPC_BUSY }, { EAGAIN, SV_RPC_BUSY },
  { EALREADY, SV_RPC_BUSY },
  { EIO, SV_RPC_IO_ERROR }, { EILSEQ, SV_RPC_IO_ERROR },
  { EBADMSG, SV_RPC_IO_ERROR }, { EUCLEAN, SV_RPC_IO_ERROR },
  { EPROTONOSUPPORT, SV_RPC_IO_ERROR }, { ESTALE, SV_RPC_IO_ERROR },
  { ENOSPC, SV_RPC_NO_SPACE }, { EDQUOT, SV_RPC_NO_SPACE },
  { EFBIG, SV_RPC_NO_SPACE },
  { ETIME, SV_RPC_EXPIRED },
  { EPERM, SV_RPC_FORBIDDEN }, { EACCES, SV_RPC_FORBIDDEN },
  { EROFS, SV_RPC_FORBIDDEN },
  { ETIMEDOUT, SV_RPC_TIMEOUT },
  { EINVAL, JSONRPC_INVALID_PARAMS }, { ERANGE, JSONRPC_INVALID_PARAMS },
  { EDOM, JSONRPC_INVALID_PARAMS }, { E2BIG, JSONRPC_INVALID_PARAMS },
  { ENAMETOOLONG, JSONRPC_INVALID_PARAMS },
  { EOVERFLOW, JSONRPC_INVALID_PARAMS },
  { EXDEV, JSONRPC_INVALID_PARAMS },        /* a snapshot of another volume */
  { EMLINK, JSONRPC_INVALID_PARAMS },       /* past a count or chain limit */
};

int
jsonrpc_code_from_errno (int err)
{
  size_t i;

  for (i = 0; i < sizeof errno_codes / sizeof errno_codes[0]; i++)
    if (errno_codes[i].err == err)
      return errno_codes[i].code;
  return JSONRPC_INTERNAL_ERROR;
}

/* Framer.
 *
 * Unconsumed bytes are buf[start, len); the bytes in [start, scan)
 * are known to hold no newline, so a message arriving in many small
 * pieces is scanned once.  Consumed bytes are dropped by moving the
 * rest down when more room is needed, at most once per feed, so the
 * cost stays linear however many messages one read brings.
 */

int
jsonrpc_framer_feed (struct jsonrpc_framer *f, const void *data, size_t len)
{
  if (len == 0)
    return 0;

  if (f->cap - f->len < len && f->start > 0) {
    memmove (f->buf, f->buf + f->start, f->len - f->start);
    f->len -= f->start;
    f->scan -= f->start;
    f->start = 0;
  }
  if (f->cap - f->len < len) {
    char *p = vector_grow (f->buf, f->len, &f->cap, len, 1);

    if (p == NULL)
      return -1;
    f->buf = p;
  }
  memcpy (f->buf + f->len, data, len);
  f->len += len;
  return 0;
}

static bool
is_blank (const char *s, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
      return false;
  return true;
}

static void
framer_consume (struct jsonrpc_framer *f, size_t end)
{
  if (end >= f->len)
    f->start = f->len = 0;
  else
    f->start = end;
  f->scan = f->start;
}

int
jsonrpc_framer_next (struct jsonrpc_framer *f, char **msg, size_t *len)
{
  for (;;) {
    char *nl = NULL;
    size_t n;

    if (f->scan < f->start)
      f->scan = f->start;
    if (f->len > f->scan)
      nl = memchr (f->buf + f->scan, '\n', f->len - f->scan);
    if (nl == NULL) {
      f->scan = f->len;
      if (f->len - f->start > JSONRPC_MAX_MESSAGE) {
        errno = EMSGSIZE;
        return -1;
      }
      return 0;
    }

    n = (size_t) (nl - (f->buf + f->start));
    if (n > JSONRPC_MAX_MESSAGE) {
      errno = EMSGSIZE;
      return -1;
    }
    if (!is_blank (f->buf + f->start, n)) {
      char *copy = malloc (n + 1);

      if (copy == NULL)
        return -1;
      memcpy (copy, f->buf + f->start, n);
      copy[n] = '\0';
      *msg = copy;
      if (len)
        *len = n;
      framer_consume (f, f->start + n + 1);
      return 1;
    }
    framer_consume (f, f->start + n + 1);
  }
}

void
jsonrpc_framer_free (struct jsonrpc_framer *f)
{
  free (f->buf);
  f->buf = NULL;
  f->len = f->cap = f->scan = f->start = 0;
}

/* Encoding and decoding. */

char *
jsonrpc_encode (json_t *msg, size_t *len)
{
  char *text, *framed;
  size_t n;

  if (!json_is_object (msg)) {
    errno = EINVAL;
    return NULL;
  }
  /* JSON_COMPACT output escapes control characters in strings, so
   * the only newline is the one we add. */
  text = json_dumps (msg, JSON_COMPACT);
  if (text == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  n = strlen (text);
  if (n > JSONRPC_MAX_MESSAGE) {
    free (text);
    errno = EMSGSIZE;
    return NULL;
  }
  framed = realloc (text, n + 2);
  if (framed == NULL) {
    free (text);
    return NULL;
  }
  framed[n] = '\n';
  framed[n + 1] = '\0';
  if (len)
    *len = n + 1;
  return framed;
}

static const char *
type_name (const json_t *v)
{
  switch (json_typeof (v)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER: return "an integer";
  case JSON_REAL: return "a number";
  case JSON_TRUE:
  case JSON_FALSE: return "a boolean";
  case JSON_NULL: return "null";
  }
  return "a value of unknown type";
}

json_t *
jsonrpc_decode (const char *text, size_t len, int *code,
                char *err, size_t errlen)
{
  json_error_t je;
  json_t *msg;

  /* No JSON_ALLOW_NUL: a "\u0000" inside a name would make C strings
   * disagree with the JSON text. */
  msg = json_loadb (text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
  if (msg == NULL) {
    *code = JSONRPC_PARSE_ERROR;
    jsonrpc_seterr (err, errlen,
                    "invalid JSON at byte %d: %s", je.position, je.text);
    return NULL;
  }
  if (json_is_array (msg)) {
    *code = JSONRPC_INVALID_REQUEST;
    jsonrpc_seterr (err, errlen, "batch requests are not supported");
    json_decref (msg);
    return NULL;
  }
  if (!json_is_object (msg)) {
    *code = JSONRPC_INVALID_REQUEST;
    jsonrpc_seterr (err, errlen, "a message must be a JSON object, not %s",
                    type_name (msg));
    json_decref (msg);
    return NULL;
  }
  return msg;
}

/* Classification. */

static bool
is_id (const json_t *id)
{
  return json_is_string (id) || json_is_integer (id);
}

/* Every member of OBJ must be one of the NULL-terminated ALLOWED:
 * a misspelt "parms" should be an error, not silently ignored. */
static bool
only_members (json_t *obj, const char *const *allowed, const char *what,
              char *err, size_t errlen)
{
  const char *key;
  json_t *v;

  json_object_foreach (obj, key, v) {
    const char *const *a;

    for (a = allowed; *a; a++)
      if (strcmp (key, *a) == 0)
        break;
    if (*a == NULL) {
      jsonrpc_seterr (err, errlen, "unknown member \"%s\" in %s", key, what);
      return false;
    }
  }
  return true;
}

static enum jsonrpc_kind
classify_call (json_t *msg, char *err, size_t errlen)
{
  static const char *const members[] =
    { "jsonrpc", "method", "params", "id", NULL };
  json_t *method = json_object_get (msg, "method");
  json_t *params = json_object_get (msg, "params");
  json_t *id = json_object_get (msg, "id");

  if (!json_is_string (method)) {
    jsonrpc_seterr (err, errlen, "\"method\" must be a string, not %s",
                    type_name (method));
    return JSONRPC_INVALID;
  }
  if (json_string_length (method) == 0) {
    jsonrpc_seterr (err, errlen, "\"method\" must not be empty");
    return JSONRPC_INVALID;
  }
  if (params && !json_is_object (params) && !json_is_array (params)) {
    jsonrpc_seterr (err, errlen,
                    "\"params\" must be an object or an array, not %s",
                    type_name (params));
    return JSONRPC_INVALID;
  }
  /* JSON-RPC allows a null id but discourages it: the answer would
   * look like the answer to a request that could not be parsed. */
  if (id && !is_id (id)) {
    jsonrpc_seterr (err, errlen,
                    "\"id\" must be a string or an integer, not %s",
                    type_name (id));
    return JSONRPC_INVALID;
  }
  if (!only_members (msg, members, "request", err, errlen))
    return JSONRPC_INVALID;
  return id ? JSONRPC_REQUEST : JSONRPC_NOTIFICATION;
}

static bool
check_error_object (json_t *error, char *err, size_t errlen)
{
  static const char *const members[] = { "code", "message", "data", NULL };

  if (!json_is_object (error)) {
    jsonrpc_seterr (err, errlen, "\"error\" must be an object, not %s",
                    type_name (error));
    return false;
  }
  if (!json_is_integer (json_object_get (error, "code"))) {
    jsonrpc_seterr (err, errlen, "\"error\" needs an integer \"code\"");
    return false;
  }
  if (!json_is_string (json_object_get (error, "message"))) {
    jsonrpc_seterr (err, errlen, "\"error\" needs a string \"message\"");
    return false;
  }
  return only_members (error, members, "error", err, errlen);
}

static enum jsonrpc_kind
classify_response (json_t *msg, char *err, size_t errlen)
{
  static const char *const members[] =
    { "jsonrpc", "id", "result", "error", NULL };
  json_t *result = json_object_get (msg, "result");
  json_t *error = json_object_get (msg, "error");
  json_t *id = json_object_get (msg, "id");

  if (result == NULL && error == NULL) {
    jsonrpc_seterr (err, errlen,
                    "message has none of \"method\", \"result\" and "
                    "\"error\"");
    return JSONRPC_INVALID;
  }
  if (result && error) {
    jsonrpc_seterr (err, errlen, "a response must not have both "
                    "\"result\" and \"error\"");
    return JSONRPC_INVALID;
  }
  if (id == NULL) {
    jsonrpc_seterr (err, errlen, "a response must have an \"id\"");
    return JSONRPC_INVALID;
  }
  /* Only an error may have a null id: it answers a request whose id
   * could not be read. */
  if (!is_id (id) && !(error && json_is_null (id))) {
    jsonrpc_seterr (err, errlen,
                    "\"id\" of %s must be a string or an integer%s, "
                    "not %s", error ? "an error" : "a result",
                    error ? " or null" : "", type_name (id));
    return JSONRPC_INVALID;
  }
  if (error && !check_error_object (error, err, errlen))
    return JSONRPC_INVALID;
  if (!only_members (msg, members, "response", err, errlen))
    return JSONRPC_INVALID;
  return JSONRPC_RESPONSE;
}

enum jsonrpc_kind
jsonrpc_classify (json_t *msg, char *err, size_t errlen)
{
  json_t *version;

  jsonrpc_seterr (err, errlen, "%s", "");
  if (!json_is_object (msg)) {
    jsonrpc_seterr (err, errlen, "a message must be a JSON object");
    return JSONRPC_INVALID;
  }
  version = json_object_get (msg, "jsonrpc");
  if (version == NULL) {
    jsonrpc_seterr (err, errlen, "missing member \"jsonrpc\"");
    return JSONRPC_INVALID;
  }
  if (!json_is_string (version) || json_string_length (version) != 3 ||
      memcmp (json_string_value (version), "2.0", 3) != 0) {
    jsonrpc_seterr (err, errlen, "\"jsonrpc\" must be \"2.0\"");
    return JSONRPC_INVALID;
  }
  if (json_object_get (msg, "method"))
    return classify_call (msg, err, errlen);
  return classify_response (msg, err, errlen);
}

/* Builders. */

/* {"jsonrpc": "2.0", "id": ID}; ID is not stolen (json null if NULL).
 * Request ids are omitted for notifications by the caller. */
static json_t *
envelope (json_t *id)
{
  json_t *msg = json_object ();

  if (msg == NULL)
    return NULL;
  if (json_object_set_new (msg, "jsonrpc", json_string ("2.0")) == -1 ||
      json_object_set_new (msg, "id", id ? json_incref (id) : json_null ())
      == -1) {
    json_decref (msg);
    errno = ENOMEM;
    return NULL;
  }
  return msg;
}

json_t *
jsonrpc_request (json_int_t id, const char *method, json_t *params)
{
  json_t *jid = json_integer (id);
  json_t *msg = jid ? envelope (jid) : NULL;

  json_decref (jid);
  if (msg == NULL) {
    json_decref (params);
    errno = ENOMEM;
    return NULL;
  }
  /* json_string refuses invalid UTF-8. */
  if (json_object_set_new (msg, "method", json_string (method)) == -1) {
    json_decref (params);
    json_decref (msg);
    errno = EINVAL;
    return NULL;
  }
  if (params && json_object_set_new (msg, "params", params) == -1) {
    json_decref (msg);
    errno = ENOMEM;
    return NULL;
  }
  return msg;
}

char *
jsonrpc_request_encoded (json_int_t id, const char *method,
                         const char *params, size_t *len)
{
  json_t *name = json_string (method);
  char *quoted = name ? json_dumps (name, JSON_ENCODE_ANY) : NULL;
  char head[160], *framed;
  size_t hlen, plen = strlen (params);
  int n;

  json_decref (name);
  if (quoted == NULL) {
    errno = name ? ENOMEM : EINVAL;
    return NULL;
  }
  /* Built by hand, not with asprintf: PARAMS may be hundreds of KiB,
   * which asprintf would copy over and over as its buffer grows. */
  n = snprintf (head, sizeof head, "{\"jsonrpc\":\"2.0\",\"id\":%"
                JSON_INTEGER_FORMAT ",\"method\":%s,\"params\":", id, quoted);
  free (quoted);
  if (n < 0 || (size_t) n >= sizeof head) {
    errno = EINVAL;
    return NULL;
  }
  hlen = n;
  if (hlen + plen + 1 > JSONRPC_MAX_MESSAGE) {
    errno = EMSGSIZE;
    return NULL;
  }
  framed = malloc (hlen + plen + 3);
  if (framed == NULL)
    return NULL;
  memcpy (framed, head, hlen);
  memcpy (framed + hlen, params, plen);
  memcpy (framed + hlen + plen, "}\n", 3);
  if (len)
    *len = hlen + plen + 2;
  return framed;
}

json_t *
jsonrpc_result (json_t *id, json_t *result)
{
  json_t *msg = envelope (id);

  if (msg == NULL) {
    json_decref (result);
    return NULL;
  }
  if (json_object_set_new (msg, "result", result ? result : json_null ())
      == -1) {
    json_decref (msg);
    errno = ENOMEM;
    return NULL;
  }
  return msg;
}

/* Length of the valid UTF-8 sequence at S (N bytes available), or 0
 * if it is not one.  As strict as jansson's own check (no overlong
 * forms, no surrogates, nothing above U+10FFFF), so that json_string
 * accepts what we let through. */
static size_t
utf8_seq_len (const unsigned char *s, size_t n)
{
  size_t len, i;
  uint32_t cp;

  if (s[0] < 0x80)
    return 1;
  if (s[0] >= 0xc2 && s[0] <= 0xdf) {
    len = 2;
    cp = s[0] & 0x1f;
  }
  else if (s[0] >= 0xe0 && s[0] <= 0xef) {
    len = 3;
    cp = s[0] & 0x0f;
  }
  else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
    len = 4;
    cp = s[0] & 0x07;
  }
  else
    return 0;
  if (len > n)
    return 0;
  for (i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
      cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

/* A JSON string of TEXT, cut to ERROR_MESSAGE_MAX bytes and with every
 * byte that is not part of valid UTF-8 replaced by '?'. */
static json_t *
message_string (const char *text)
{
  const unsigned char *s = (const unsigned char *) text;
  size_t n = strlen (text), i = 0, o = 0;
  size_t limit = n > ERROR_MESSAGE_MAX ? ERROR_MESSAGE_MAX - 3 : n;
  char out[ERROR_MESSAGE_MAX];

  /* Output never outgrows input ('?' replaces one byte), so without a
   * cut the loop always reaches the end. */
  while (i < n) {
    size_t l = utf8_seq_len (s + i, n - i);

    if (o + (l ? l : 1) > limit)
      break;
    if (l == 0) {
      out[o++] = '?';
      i++;
    }
    else {
      memcpy (out + o, s + i, l);
      o += l;
      i += l;
    }
  }
  if (i < n) {
    memcpy (out + o, "...", 3);
    o += 3;
  }
  return json_stringn (out, o);
}

json_t *
jsonrpc_error (json_t *id, int code, json_t *data, const char *fmt, ...)
{
  CLEANUP_FREE char *text = NULL;
  json_t *msg, *error;
  va_list ap;
  int r;

  va_start (ap, fmt);
  r = vasprintf (&text, fmt, ap);
  va_end (ap);
  if (r == -1) {
    text = NULL;
    json_decref (data);
    errno = ENOMEM;
    return NULL;
  }

  /* json_object_set_new consumes its value even when it fails. */
  error = json_object ();
  if (error == NULL) {
    json_decref (data);
    errno = ENOMEM;
    return NULL;
  }
  if (json_object_set_new (error, "code", json_integer (code)) == -1 ||
      json_object_set_new (error, "message", message_string (text)) == -1) {
    json_decref (data);
    json_decref (error);
    errno = ENOMEM;
    return NULL;
  }
  if (data && json_object_set_new (error, "data", data) == -1) {
    json_decref (error);
    errno = ENOMEM;
    return NULL;
  }

  msg = envelope (id);
  if (msg == NULL) {
    json_decref (error);
    return NULL;
  }
  if (json_object_set_new (msg, "error", error) == -1) {
    json_decref (msg);
    errno = ENOMEM;
    return NULL;
  }
  return msg;
}

/* Blocking helpers. */

/* Wait for EVENTS on FD until DEADLINE (NULL: forever).  0, or -1 with
 * ETIMEDOUT or the error of poll. */
static int
wait_fd (int fd, short events, const struct timespec *deadline)
{
  for (;;) {
    struct pollfd pfd = { .fd = fd, .events = events };
    int timeout = -1, r;

    if (deadline) {
      timeout = timespec_poll_ms (CLOCK_MONOTONIC, deadline);
      if (timeout == 0) {
        errno = ETIMEDOUT;
        return -1;
      }
    }
    r = poll (&pfd, 1, timeout);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -1;
    if (r > 0)
      return 0;
  }
}

int
jsonrpc_send_fd (int fd, json_t *msg)
{
  CLEANUP_FREE char *buf = NULL;
  size_t len, off = 0;

  buf = jsonrpc_encode (msg, &len);
  if (buf == NULL)
    return -1;
  while (off < len) {
    /* MSG_NOSIGNAL: a peer that went away is an EPIPE, not a signal. */
    ssize_t r = send (fd, buf + off, len - off, MSG_NOSIGNAL);

    if (r == -1 && errno == ENOTSOCK)
      r = write (fd, buf + off, len - off);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (wait_fd (fd, POLLOUT, NULL) == -1)
          return -1;
        continue;
      }
      return -1;
    }
    off += (size_t) r;
  }
  return 0;
}

json_t *
jsonrpc_recv_fd (int fd, struct jsonrpc_framer *f, int timeout_ms,
                 char *err, size_t errlen)
{
  struct timespec deadline;
  bool timed = timeout_ms >= 0;

  jsonrpc_seterr (err, errlen, "%s", "");
  if (timed)
    deadline = timespec_deadline_ms (CLOCK_MONOTONIC, timeout_ms);

  for (;;) {
    char buf[RECV_CHUNK];
    CLEANUP_FREE char *text = NULL;
    size_t len;
    ssize_t n;
    int r, code;

    r = jsonrpc_framer_next (f, &text, &len);
    if (r == -1) {
      if (errno == EMSGSIZE)
        jsonrpc_seterr (err, errlen, "message longer than %d bytes",
                        JSONRPC_MAX_MESSAGE);
      return NULL;
    }
    if (r == 1) {
      json_t *msg = jsonrpc_decode (text, len, &code, err, errlen);

      if (msg == NULL)
        errno = EBADMSG;
      return msg;
    }

    if (wait_fd (fd, POLLIN, timed ? &deadline : NULL) == -1) {
      if (errno == ETIMEDOUT)
        jsonrpc_seterr (err, errlen, "no message within %d ms", timeout_ms);
      else
        jsonrpc_seterr (err, errlen, "poll: %m");
      return NULL;
    }
    n = read (fd, buf, sizeof buf);
    if (n == -1) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
        continue;
      jsonrpc_seterr (err, errlen, "read: %m");
      return NULL;
    }
    if (n == 0) {
      jsonrpc_seterr (err, errlen, "%s", f->len > f->start
                      ? "connection closed in the middle of a message"
                      : "connection closed");
      errno = ECONNRESET;
      return NULL;
    }
    if (jsonrpc_framer_feed (f, buf, (size_t) n) == -1)
      return NULL;
  }
}
