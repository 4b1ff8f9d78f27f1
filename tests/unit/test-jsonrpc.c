/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-jsonrpc.c: unit tests of common/jsonrpc.c: the line framer,
 * decoding and classification of messages, the builders, the errno
 * mapping and the file descriptor helpers.
 */

#include <config.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "jsonrpc.h"

/* Helpers. */

static void
feed_str (struct jsonrpc_framer *f, const char *s)
{
  assert_int_equal (jsonrpc_framer_feed (f, s, strlen (s)), 0);
}

/* The next message must be EXPECTED. */
static void
assert_next (struct jsonrpc_framer *f, const char *expected)
{
  char *msg = NULL;
  size_t len = 0;

  assert_int_equal (jsonrpc_framer_next (f, &msg, &len), 1);
  assert_non_null (msg);
  assert_string_equal (msg, expected);
  assert_int_equal (len, strlen (expected));
  free (msg);
}

static void
assert_no_next (struct jsonrpc_framer *f)
{
  char *msg = NULL;
  size_t len = 0;

  assert_int_equal (jsonrpc_framer_next (f, &msg, &len), 0);
  assert_null (msg);
}

static void
assert_next_emsgsize (struct jsonrpc_framer *f)
{
  char *msg = NULL;
  size_t len = 0;

  errno = 0;
  assert_int_equal (jsonrpc_framer_next (f, &msg, &len), -1);
  assert_int_equal (errno, EMSGSIZE);
  assert_null (msg);
}

/* Encode MSG (consumed) and compare with EXPECTED, which lacks the
 * newline. */
static void
assert_encodes_as (json_t *msg, const char *expected)
{
  char *text;
  size_t len = 0;

  assert_non_null (msg);
  text = jsonrpc_encode (msg, &len);
  assert_non_null (text);
  assert_int_equal (len, strlen (expected) + 1);
  assert_int_equal (text[len - 1], '\n');
  text[len - 1] = '\0';
  assert_string_equal (text, expected);
  free (text);
  json_decref (msg);
}

/* Decode TEXT, which must be a JSON object. */
static json_t *
decode_ok (const char *text)
{
  char err[256] = "unset";
  int code = 0;
  json_t *msg = jsonrpc_decode (text, strlen (text), &code, err, sizeof err);

  if (msg == NULL)
    fail_msg ("decoding %s failed: %s", text, err);
  return msg;
}

/* Decoding TEXT (LEN bytes) must fail with CODE and a message
 * starting with ERR_PREFIX. */
static void
assert_decode_fails (const char *text, size_t len, int code,
                     const char *err_prefix)
{
  char err[256] = "";
  int got = 0;

  assert_null (jsonrpc_decode (text, len, &got, err, sizeof err));
  assert_int_equal (got, code);
  if (strncmp (err, err_prefix, strlen (err_prefix)) != 0)
    fail_msg ("error \"%s\" does not start with \"%s\"", err, err_prefix);
}

/* Classify TEXT: it must decode, be of KIND and, when INVALID, give
 * exactly the reason ERR. */
static void
assert_kind (const char *text, enum jsonrpc_kind kind, const char *err)
{
  json_t *msg = decode_ok (text);
  char why[256] = "unset";
  enum jsonrpc_kind got = jsonrpc_classify (msg, why, sizeof why);

  if (got != kind)
    fail_msg ("%s: kind %d, expected %d (%s)", text, got, kind, why);
  if (err)
    assert_string_equal (why, err);
  json_decref (msg);
}

/* Framer. */

static void
test_framer_split_across_feeds (void **state)
{
  struct jsonrpc_framer f = JSONRPC_FRAMER_INIT;

  feed_str (&f, "{\"method\":");
  assert_no_next (&f);
  feed_str (&f, "\"pool.info\"}");
  assert_no_next (&f);
  feed_str (&f, "\n");
  assert_next (&f, "{\"method\":\"pool.info\"}");
  assert_no_next (&f);
  jsonrpc_framer_free (&f);
  assert_null (f.buf);
}

static void
test_framer_byte_by_byte (void **state)
{
  static const char text[] = "{\"a\":[1,2,3]}\n{\"b\":\"x y\"}\n";
  struct jsonrpc_framer f = JSONRPC_FRAMER_INIT;
  size_t i;
  int got = 0;

  for (i = 0; i < sizeof text - 1; i++) {
    char *msg = NULL;
    int r;

    assert_int_equal (jsonrpc_framer_feed (&f, &text[i], 1), 0);
    r = jsonrpc_framer_next (&f, &msg, NULL);
    if (text[i] == '\n') {
      assert_int_equal (r, 1);
      assert_string_equal (msg, got == 0 ? "{\"a\":[1,2,3]}"
                           : "{\"b\":\"x y\"}");
      got++;
      free (msg);
    }
    else
      assert_int_equal (r, 0);
  }
  assert_int_equal (got, 2);
  jsonrpc_framer_free (&f);
}

static void
test_framer_several_in_one_feed (void **state)
{
  struct jsonrpc_framer f = JSONRPC_FRAMER_INIT;

  feed_str (&f, "{}\n{\"x\":2}\n{\"y\"");
  assert_next (&f, "{}");
  assert_next (&f, "{\"x\":2}");
  assert_no_next (&f);
  feed_str (&f, ":3}\n{\"z\":4}\n");
  assert_next (&f, "{\"y\":3}");
  assert_next (&f, "{\"z\":4}");
  assert_no_next (&f);
  jsonrpc_framer_free (&f);
}

static void
test_framer_skips_blank_lines (void **state)
{
  struct jsonrpc_framer f = JSONRPC_FRAMER_INIT;

  feed_str (&f, "\n\r\n \t \n{\"a\":1}\n\n\n{\"b\":2}\r\n");
  assert_next (&f, "{\"a\":1}");
  /* The CR stays: it is JSON whitespace, the decoder accepts it. */
  assert_next (&f, "{\"b\":2}\r");
  assert_no_next (&f);
  feed_str (&f, "\n\n");
  assert_no_next (&f);
  jsonrpc_framer_free (&f);
}

/* Many messages in odd-sized pieces: the framer drops consumed bytes
 * while others are pending, and must never lose or mangle one. */
static void
test_framer_stream (void **state)
{
  struct jsonrpc_framer f = JSONRPC_FRAMER_INIT;
  char *stream = NULL, *msg;
  size_t size = 0, off, step;
  FILE *fp = open_memstream (&stream, &size);
  int i, next = 0;

  assert_non_null (fp);
  for (i = 0; i < 5000; i++)
    fprintf (fp, "{\"i\":%d,\"pad\":\"%*s\"}\n", i, i % 97, "");
  assert_int_equal (fclose (fp), 0);

  for (off = 0, step = 1; off < size; off += step, step = step % 61 + 7) {
    if (step > size - off)
      step = size - off;
    assert_int_equal (jsonrpc_framer_feed (&f, stream + off, step), 0);
    while (jsonrpc_framer_next (&f, &msg, NULL) == 1) {
      json_t *v = decode_ok (msg);

      assert_int_equal (json_integer_value (json_object_get (v, "i")), next);
      assert_int_equal (json_string_length (json_object_get (v, "pad")),
                        next % 97);
      next++;
      json_decref (v);
      free (msg);
    }
  }
  assert_int_equal (next, 5000);
  assert_no_next (&f);
  jsonrpc_framer_free (&f);
  free (stream);
}

static void
test_framer_max_size_accepted (void **state)
{
  struct jsonrpc_framer f = JSONRPC_FRAMER_INIT;
  char *big = malloc (JSONRPC_MAX_MESSAGE + 1);
  char *msg = NULL;
  size_t len = 0;

  assert_non_null (big);
  memset (big, 'a', JSONRPC_MAX_MESSAGE);
  big[JSONRPC_MAX_MESSAGE] = '\n';
  assert_int_equal (jsonrpc_framer_feed (&f, big, JSONRPC_MAX_MESSAGE), 0);
  assert_no_next (&f);
  assert_int_equal (jsonrpc_framer_feed (&f, "\n", 1), 0);
  assert_int_equal (jsonrpc_framer_next (&f, &msg, &len), 1);
  assert_int_equal (len, JSONRPC_MAX_MESSAGE);
  assert_int_equal (strlen (msg), JSONRPC_MAX_MESSAGE);
  free (msg);
  free (big);
  jsonrpc_framer_free (&f);
}

/* One byte more than the limit, with no newline yet: refused without
 * waiting for the rest, and the refusal sticks. */
static void
test_framer_oversize_without_newline (void **state)
{
  struct jsonrpc_framer f = JSONRPC_FRAMER_INIT;
  char chunk[65536];
  size_t fed = 0;

  memset (chunk, 'x', sizeof chunk);
  while (fed + sizeof chunk <= JSONRPC_MAX_MESSAGE) {
    assert_int_equal (jsonrpc_framer_feed (&f, chunk, sizeof chunk), 0);
    fed += sizeof chunk;
    assert_no_next (&f);
  }
  assert_int_equal (fed, JSONRPC_MAX_MESSAGE);
  assert_int_equal (jsonrpc_framer_feed (&f, "x", 1), 0);
  assert_next_emsgsize (&f);
  assert_int_equal (jsonrpc_framer_feed (&f, "}\n{}\n", 5), 0);
  assert_next_emsgsize (&f);
  jsonrpc_framer_free (&f);
}

static void
test_framer_oversize_with_newline (void **state)
{
  struct jsonrpc_framer f = JSONRPC_FRAMER_INIT;
  size_t n = JSONRPC_MAX_MESSAGE + 1;
  char *big = malloc (n + 1);

  assert_non_null (big);
  memset (big, ' ', n);
  big[n] = '\n';
  /* A valid message first: it is still delivered. */
  feed_str (&f, "{}\n");
  assert_int_equal (jsonrpc_framer_feed (&f, big, n + 1), 0);
  assert_next (&f, "{}");
  assert_next_emsgsize (&f);
  free (big);
  jsonrpc_framer_free (&f);
}

/* Decoding. */

static void
test_decode_valid (void **state)
{
  json_t *msg = decode_ok ("{\"jsonrpc\":\"2.0\",\"id\":1,"
                           "\"method\":\"volume.list\",\"params\":{}}");

  assert_string_equal (json_string_value (json_object_get (msg, "method")),
                       "volume.list");
  json_decref (msg);
  /* Non-ASCII UTF-8 is fine. */
  msg = decode_ok ("{\"label\":\"caf\xc3\xa9\"}");
  assert_int_equal (json_string_length (json_object_get (msg, "label")), 5);
  json_decref (msg);
}

static void
test_decode_invalid_json (void **state)
{
  static const char nul[] = "{}\0{}";

  assert_decode_fails ("{", 1, JSONRPC_PARSE_ERROR, "invalid JSON at byte ");
  assert_decode_fails ("", 0, JSONRPC_PARSE_ERROR, "invalid JSON at byte ");
  assert_decode_fails ("{} x", 4, JSONRPC_PARSE_ERROR, "invalid JSON at byte ");
  assert_decode_fails ("{'a':1}", 7, JSONRPC_PARSE_ERROR,
                       "invalid JSON at byte ");
  assert_decode_fails ("{\"a\":\"\xff\"}", 9, JSONRPC_PARSE_ERROR,
                       "invalid JSON at byte ");
  assert_decode_fails ("{\"a\":\"\xed\xa0\x80\"}", 11, JSONRPC_PARSE_ERROR,
                       "invalid JSON at byte ");
  assert_decode_fails ("{\"a\":\"x\\u0000y\"}", 16, JSONRPC_PARSE_ERROR,
                       "invalid JSON at byte ");
  assert_decode_fails ("{\"a\":1,\"a\":2}", 13, JSONRPC_PARSE_ERROR,
                       "invalid JSON at byte ");
  assert_decode_fails (nul, sizeof nul - 1, JSONRPC_PARSE_ERROR,
                       "invalid JSON at byte ");
}

static void
test_decode_not_an_object (void **state)
{
  assert_decode_fails ("[{\"jsonrpc\":\"2.0\"}]", 19, JSONRPC_INVALID_REQUEST,
                       "batch requests are not supported");
  assert_decode_fails ("42", 2, JSONRPC_INVALID_REQUEST,
                       "a message must be a JSON object, not an integer");
  assert_decode_fails ("\"x\"", 3, JSONRPC_INVALID_REQUEST,
                       "a message must be a JSON object, not a string");
  assert_decode_fails ("null", 4, JSONRPC_INVALID_REQUEST,
                       "a message must be a JSON object, not null");
  assert_decode_fails ("true", 4, JSONRPC_INVALID_REQUEST,
                       "a message must be a JSON object, not a boolean");
}

/* Without room for a message, decoding still reports the code. */
static void
test_decode_without_err_buffer (void **state)
{
  int code = 0;

  assert_null (jsonrpc_decode ("{", 1, &code, NULL, 0));
  assert_int_equal (code, JSONRPC_PARSE_ERROR);
}

/* Classification. */

static void
test_classify_requests (void **state)
{
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\"}",
               JSONRPC_REQUEST, "");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":\"x-1\",\"method\":\"a\","
               "\"params\":{\"b\":1}}", JSONRPC_REQUEST, "");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":-5,\"method\":\"a\","
               "\"params\":[1,2]}", JSONRPC_REQUEST, "");
  assert_kind ("{\"method\":\"a\",\"jsonrpc\":\"2.0\",\"params\":{}}",
               JSONRPC_NOTIFICATION, "");
}

static void
test_classify_bad_ids (void **state)
{
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"a\"}",
               JSONRPC_INVALID,
               "\"id\" must be a string or an integer, not null");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"a\"}",
               JSONRPC_INVALID,
               "\"id\" must be a string or an integer, not a number");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"a\"}",
               JSONRPC_INVALID,
               "\"id\" must be a string or an integer, not an object");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"a\"}",
               JSONRPC_INVALID,
               "\"id\" must be a string or an integer, not an array");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"a\"}",
               JSONRPC_INVALID,
               "\"id\" must be a string or an integer, not a boolean");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":[],\"result\":1}",
               JSONRPC_INVALID, "\"id\" of a result must be a string or an "
               "integer, not an array");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":1}",
               JSONRPC_INVALID, "\"id\" of a result must be a string or an "
               "integer, not null");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":0.5,"
               "\"error\":{\"code\":1,\"message\":\"m\"}}",
               JSONRPC_INVALID, "\"id\" of an error must be a string or an "
               "integer or null, not a number");
}

static void
test_classify_bad_envelope (void **state)
{
  json_t *array = json_array ();
  char why[64];

  assert_kind ("{\"id\":1,\"method\":\"a\"}", JSONRPC_INVALID,
               "missing member \"jsonrpc\"");
  assert_kind ("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"a\"}",
               JSONRPC_INVALID, "\"jsonrpc\" must be \"2.0\"");
  assert_kind ("{\"jsonrpc\":2.0,\"id\":1,\"method\":\"a\"}",
               JSONRPC_INVALID, "\"jsonrpc\" must be \"2.0\"");
  assert_kind ("{\"jsonrpc\":\"2.0 \",\"id\":1,\"method\":\"a\"}",
               JSONRPC_INVALID, "\"jsonrpc\" must be \"2.0\"");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}",
               JSONRPC_INVALID, "\"method\" must be a string, not an integer");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}",
               JSONRPC_INVALID, "\"method\" must not be empty");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\","
               "\"params\":\"x\"}", JSONRPC_INVALID,
               "\"params\" must be an object or an array, not a string");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\","
               "\"parms\":{}}", JSONRPC_INVALID,
               "unknown member \"parms\" in request");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\","
               "\"result\":{}}", JSONRPC_INVALID,
               "unknown member \"result\" in request");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":1}", JSONRPC_INVALID,
               "message has none of \"method\", \"result\" and \"error\"");

  assert_non_null (array);
  assert_int_equal (jsonrpc_classify (array, why, sizeof why),
                    JSONRPC_INVALID);
  assert_string_equal (why, "a message must be a JSON object");
  json_decref (array);
}

static void
test_classify_responses (void **state)
{
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"x\":1}}",
               JSONRPC_RESPONSE, "");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":null}",
               JSONRPC_RESPONSE, "");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
               "\"message\":\"bad\"}}", JSONRPC_RESPONSE, "");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32001,"
               "\"message\":\"no\",\"data\":{\"errno\":\"ENOENT\"}}}",
               JSONRPC_RESPONSE, "");

  assert_kind ("{\"jsonrpc\":\"2.0\",\"result\":1}", JSONRPC_INVALID,
               "a response must have an \"id\"");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,"
               "\"error\":{\"code\":1,\"message\":\"m\"}}", JSONRPC_INVALID,
               "a response must not have both \"result\" and \"error\"");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"bad\"}",
               JSONRPC_INVALID, "\"error\" must be an object, not a string");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"message\":\"m\"}}",
               JSONRPC_INVALID, "\"error\" needs an integer \"code\"");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1.0,"
               "\"message\":\"m\"}}",
               JSONRPC_INVALID, "\"error\" needs an integer \"code\"");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1}}",
               JSONRPC_INVALID, "\"error\" needs a string \"message\"");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,"
               "\"message\":\"m\",\"extra\":0}}", JSONRPC_INVALID,
               "unknown member \"extra\" in error");
  assert_kind ("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"x\":0}",
               JSONRPC_INVALID, "unknown member \"x\" in response");
}

/* Builders. */

static void
test_build_request (void **state)
{
  assert_encodes_as (jsonrpc_request (7, "volume.list",
                                      json_pack ("{s:s}", "name", "a")),
                     "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"volume.list\","
                     "\"params\":{\"name\":\"a\"}}");
  assert_encodes_as (jsonrpc_request (1, "pool.info", NULL),
                     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pool.info\"}");
  /* A method name that is not UTF-8 cannot be sent; PARAMS is freed
   * (the leak checker of the sanitizer build would tell). */
  errno = 0;
  assert_null (jsonrpc_request (1, "a\xff", json_object ()));
  assert_int_equal (errno, EINVAL);
}

static void
test_build_result (void **state)
{
  json_t *id = json_string ("abc");

  assert_encodes_as (jsonrpc_result (id, json_pack ("{s:i}", "n", 1)),
                     "{\"jsonrpc\":\"2.0\",\"id\":\"abc\","
                     "\"result\":{\"n\":1}}");
  /* ID is borrowed: still ours. */
  assert_int_equal (id->refcount, 1);
  json_decref (id);
  assert_encodes_as (jsonrpc_result (NULL, NULL),
                     "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":null}");
}

static void
test_build_error (void **state)
{
  json_t *id = json_integer (9);

  assert_encodes_as (jsonrpc_error (NULL, SV_RPC_NOT_FOUND,
                                    jsonrpc_errno_data (ENOENT),
                                    "no volume %s", "x"),
                     "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{"
                     "\"code\":-32001,\"message\":\"no volume x\","
                     "\"data\":{\"errno\":\"ENOENT\"}}}");
  assert_encodes_as (jsonrpc_error (id, JSONRPC_METHOD_NOT_FOUND, NULL,
                                    "unknown method '%s'", "frob"),
                     "{\"jsonrpc\":\"2.0\",\"id\":9,\"error\":{"
                     "\"code\":-32601,\"message\":\"unknown method 'frob'\"}}");
  json_decref (id);
  /* Bytes that are not UTF-8 become '?', so the answer can be sent. */
  assert_encodes_as (jsonrpc_error (NULL, SV_RPC_IO_ERROR, NULL,
                                    "bad %s name", "\xff\xc3\xa9\xe2\x82"),
                     "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{"
                     "\"code\":-32004,\"message\":\"bad ?\xc3\xa9?? name\"}}");
}

/* A long message is cut on a character boundary and marked. */
static void
test_build_error_long_message (void **state)
{
  char *text = malloc (2001);
  json_t *msg, *message;
  const char *s;
  size_t i, n;

  assert_non_null (text);
  for (i = 0; i < 1000; i++)
    memcpy (text + 2 * i, "\xc3\xa9", 2);       /* e-acute */
  text[2000] = '\0';
  msg = jsonrpc_error (NULL, JSONRPC_INTERNAL_ERROR, NULL, "%s", text);
  assert_non_null (msg);
  message = json_object_get (json_object_get (msg, "error"), "message");
  s = json_string_value (message);
  n = json_string_length (message);
  /* 510 two-byte characters fit in 1021 bytes, then "...". */
  assert_int_equal (n, 1023);
  assert_memory_equal (s, text, 1020);
  assert_string_equal (s + 1020, "...");
  json_decref (msg);

  /* Exactly at the limit: not cut. */
  memset (text, 'a', 1024);
  text[1024] = '\0';
  msg = jsonrpc_error (NULL, JSONRPC_INTERNAL_ERROR, NULL, "%s", text);
  assert_non_null (msg);
  assert_string_equal (json_string_value (json_object_get (
                         json_object_get (msg, "error"), "message")), text);
  json_decref (msg);
  free (text);
}

/* What the builders make, the decoder and classifier accept. */
static void
test_build_round_trip (void **state)
{
  json_t *msgs[3];
  enum jsonrpc_kind kinds[3] =
    { JSONRPC_REQUEST, JSONRPC_RESPONSE, JSONRPC_RESPONSE };
  json_t *id = json_integer (2);
  size_t i;

  msgs[0] = jsonrpc_request (2, "snapshot.create",
                             json_pack ("{s:[s,s]}", "volumes", "a", "b"));
  msgs[1] = jsonrpc_result (id, json_array ());
  msgs[2] = jsonrpc_error (id, SV_RPC_BUSY, NULL, "line\nbreak");
  json_decref (id);
  for (i = 0; i < 3; i++) {
    char why[256], *text;
    size_t len;
    int code;
    json_t *back;

    text = jsonrpc_encode (msgs[i], &len);
    assert_non_null (text);
    /* The only newline is the framing one. */
    assert_ptr_equal (strchr (text, '\n'), text + len - 1);
    back = jsonrpc_decode (text, len - 1, &code, why, sizeof why);
    assert_non_null (back);
    assert_int_equal (jsonrpc_classify (back, why, sizeof why), kinds[i]);
    assert_true (json_equal (back, msgs[i]));
    json_decref (back);
    json_decref (msgs[i]);
    free (text);
  }
}

static void
test_encode_limits (void **state)
{
  char *big = malloc (JSONRPC_MAX_MESSAGE + 1);
  json_t *msg, *array = json_array ();
  size_t len;

  assert_non_null (big);
  memset (big, 'a', JSONRPC_MAX_MESSAGE);
  big[JSONRPC_MAX_MESSAGE] = '\0';
  msg = jsonrpc_result (NULL, json_string (big));
  assert_non_null (msg);
  errno = 0;
  assert_null (jsonrpc_encode (msg, &len));
  assert_int_equal (errno, EMSGSIZE);
  json_decref (msg);
  free (big);

  /* Only objects are messages. */
  errno = 0;
  assert_null (jsonrpc_encode (array, &len));
  assert_int_equal (errno, EINVAL);
  json_decref (array);
}

/* A request with parameters encoded once for many peers is the same
 * message, byte for byte, as one encoded whole, and keeps the limit. */
static void
test_request_encoded_same_as_encode (void **state)
{
  json_t *params = json_pack ("{s:s, s:[s,s], s:s}", "set_id", "s1",
                              "volumes", "a/v0", "b/v\u00e9", "label",
                              "tab\there");
  json_t *msg;
  char *shared, *whole, *framed, *big;
  size_t wlen, flen;

  assert_non_null (params);
  shared = json_dumps (params, JSON_COMPACT);
  assert_non_null (shared);
  msg = jsonrpc_request (41, "writer.prepare", params);
  whole = jsonrpc_encode (msg, &wlen);
  assert_non_null (whole);
  framed = jsonrpc_request_encoded (41, "writer.prepare", shared, &flen);
  assert_non_null (framed);
  assert_int_equal (flen, wlen);
  assert_string_equal (framed, whole);
  free (framed);
  free (whole);
  free (shared);
  json_decref (msg);

  big = malloc (JSONRPC_MAX_MESSAGE + 16);
  assert_non_null (big);
  memset (big, ' ', JSONRPC_MAX_MESSAGE + 15);
  big[0] = '{';
  big[JSONRPC_MAX_MESSAGE + 14] = '}';
  big[JSONRPC_MAX_MESSAGE + 15] = '\0';
  errno = 0;
  assert_null (jsonrpc_request_encoded (1, "writer.post_snapshot", big,
                                        &flen));
  assert_int_equal (errno, EMSGSIZE);
  free (big);
}

/* Errors. */

static void
test_errno_codes (void **state)
{
  assert_int_equal (jsonrpc_code_from_errno (ENOENT), SV_RPC_NOT_FOUND);
  assert_int_equal (jsonrpc_code_from_errno (EEXIST), SV_RPC_EXISTS);
  assert_int_equal (jsonrpc_code_from_errno (EBUSY), SV_RPC_BUSY);
  assert_int_equal (jsonrpc_code_from_errno (ENOTEMPTY), SV_RPC_BUSY);
  assert_int_equal (jsonrpc_code_from_errno (EIO), SV_RPC_IO_ERROR);
  assert_int_equal (jsonrpc_code_from_errno (EILSEQ), SV_RPC_IO_ERROR);
  assert_int_equal (jsonrpc_code_from_errno (EPROTONOSUPPORT),
                    SV_RPC_IO_ERROR);
  assert_int_equal (jsonrpc_code_from_errno (ENOSPC), SV_RPC_NO_SPACE);
  assert_int_equal (jsonrpc_code_from_errno (EDQUOT), SV_RPC_NO_SPACE);
  assert_int_equal (jsonrpc_code_from_errno (ETIME), SV_RPC_EXPIRED);
  assert_int_equal (jsonrpc_code_from_errno (EACCES), SV_RPC_FORBIDDEN);
  assert_int_equal (jsonrpc_code_from_errno (EPERM), SV_RPC_FORBIDDEN);
  assert_int_equal (jsonrpc_code_from_errno (ETIMEDOUT), SV_RPC_TIMEOUT);
  assert_int_equal (jsonrpc_code_from_errno (EINVAL), JSONRPC_INVALID_PARAMS);
  assert_int_equal (jsonrpc_code_from_errno (ERANGE), JSONRPC_INVALID_PARAMS);
  assert_int_equal (jsonrpc_code_from_errno (ENAMETOOLONG),
                    JSONRPC_INVALID_PARAMS);
  assert_int_equal (jsonrpc_code_from_errno (ENOMEM), JSONRPC_INTERNAL_ERROR);
  assert_int_equal (jsonrpc_code_from_errno (0), JSONRPC_INTERNAL_ERROR);
  assert_int_equal (jsonrpc_code_from_errno (-1), JSONRPC_INTERNAL_ERROR);
}

static void
test_errno_names (void **state)
{
  assert_string_equal (jsonrpc_errno_name (ENOENT), "ENOENT");
  assert_string_equal (jsonrpc_errno_name (EBUSY), "EBUSY");
  assert_string_equal (jsonrpc_errno_name (ENOTEMPTY), "ENOTEMPTY");
  assert_string_equal (jsonrpc_errno_name (EILSEQ), "EILSEQ");
  assert_string_equal (jsonrpc_errno_name (ENOTSUP), "ENOTSUP");
  assert_string_equal (jsonrpc_errno_name (ETIMEDOUT), "ETIMEDOUT");
  assert_null (jsonrpc_errno_name (0));
  assert_null (jsonrpc_errno_name (99999));
  assert_null (jsonrpc_errno_name (-1));

  assert_encodes_as (jsonrpc_result (NULL, jsonrpc_errno_data (EEXIST)),
                     "{\"jsonrpc\":\"2.0\",\"id\":null,"
                     "\"result\":{\"errno\":\"EEXIST\"}}");
  assert_null (jsonrpc_errno_data (99999));
}

/* File descriptor helpers. */

static void
test_fd_round_trip (void **state)
{
  struct jsonrpc_framer f = JSONRPC_FRAMER_INIT;
  json_t *a = jsonrpc_request (1, "pool.info", NULL);
  json_t *b = jsonrpc_request (2, "volume.list", json_object ());
  json_t *got;
  char err[256];
  int sv[2];

  assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM, 0, sv), 0);
  assert_int_equal (jsonrpc_send_fd (sv[0], a), 0);
  assert_int_equal (jsonrpc_send_fd (sv[0], b), 0);

  got = jsonrpc_recv_fd (sv[1], &f, 1000, err, sizeof err);
  assert_non_null (got);
  assert_true (json_equal (got, a));
  json_decref (got);
  /* The second arrived with the first and is served from the framer. */
  got = jsonrpc_recv_fd (sv[1], &f, 0, err, sizeof err);
  assert_non_null (got);
  assert_true (json_equal (got, b));
  json_decref (got);

  json_decref (a);
  json_decref (b);
  jsonrpc_framer_free (&f);
  close (sv[0]);
  close (sv[1]);
}

static void
test_fd_timeout_and_eof (void **state)
{
  struct jsonrpc_framer f = JSONRPC_FRAMER_INIT;
  char err[256];
  int sv[2];

  assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM, 0, sv), 0);
  errno = 0;
  assert_null (jsonrpc_recv_fd (sv[1], &f, 50, err, sizeof err));
  assert_int_equal (errno, ETIMEDOUT);
  assert_string_equal (err, "no message within 50 ms");

  assert_int_equal (write (sv[0], "{\"jsonrpc\"", 10), 10);
  close (sv[0]);
  errno = 0;
  assert_null (jsonrpc_recv_fd (sv[1], &f, 1000, err, sizeof err));
  assert_int_equal (errno, ECONNRESET);
  assert_string_equal (err, "connection closed in the middle of a message");
  jsonrpc_framer_free (&f);
  close (sv[1]);

  /* EOF between messages. */
  assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM, 0, sv), 0);
  close (sv[0]);
  errno = 0;
  assert_null (jsonrpc_recv_fd (sv[1], &f, 1000, err, sizeof err));
  assert_int_equal (errno, ECONNRESET);
  assert_string_equal (err, "connection closed");
  jsonrpc_framer_free (&f);
  close (sv[1]);
}

static void
test_fd_bad_input (void **state)
{
  struct jsonrpc_framer f = JSONRPC_FRAMER_INIT;
  char err[256], *big;
  json_t *got;
  int sv[2];

  assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM, 0, sv), 0);
  assert_int_equal (write (sv[0], "{oops}\n{}\n", 10), 10);
  errno = 0;
  assert_null (jsonrpc_recv_fd (sv[1], &f, 1000, err, sizeof err));
  assert_int_equal (errno, EBADMSG);
  assert_memory_equal (err, "invalid JSON at byte ", 21);
  /* The stream is still in step: the next message is readable. */
  got = jsonrpc_recv_fd (sv[1], &f, 1000, err, sizeof err);
  assert_non_null (got);
  assert_int_equal (json_object_size (got), 0);
  json_decref (got);

  /* An oversize message already buffered is refused at once. */
  big = malloc (JSONRPC_MAX_MESSAGE + 1);
  assert_non_null (big);
  memset (big, '{', JSONRPC_MAX_MESSAGE + 1);
  assert_int_equal (jsonrpc_framer_feed (&f, big, JSONRPC_MAX_MESSAGE + 1), 0);
  free (big);
  errno = 0;
  assert_null (jsonrpc_recv_fd (sv[1], &f, 1000, err, sizeof err));
  assert_int_equal (errno, EMSGSIZE);
  assert_string_equal (err, "message longer than 1048576 bytes");

  jsonrpc_framer_free (&f);
  close (sv[0]);
  close (sv[1]);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_framer_split_across_feeds),
    cmocka_unit_test (test_framer_byte_by_byte),
    cmocka_unit_test (test_framer_several_in_one_feed),
    cmocka_unit_test (test_framer_skips_blank_lines),
    cmocka_unit_test (test_framer_stream),
    cmocka_unit_test (test_framer_max_size_accepted),
    cmocka_unit_test (test_framer_oversize_without_newline),
    cmocka_unit_test (test_framer_oversize_with_newline),
    cmocka_unit_test (test_decode_valid),
    cmocka_unit_test (test_decode_invalid_json),
    cmocka_unit_test (test_decode_not_an_object),
    cmocka_unit_test (test_decode_without_err_buffer),
    cmocka_unit_test (test_classify_requests),
    cmocka_unit_test (test_classify_bad_ids),
    cmocka_unit_test (test_classify_bad_envelope),
    cmocka_unit_test (test_classify_responses),
    cmocka_unit_test (test_build_request),
    cmocka_unit_test (test_build_result),
    cmocka_unit_test (test_build_error),
    cmocka_unit_test (test_build_error_long_message),
    cmocka_unit_test (test_build_round_trip),
    cmocka_unit_test (test_encode_limits),
    cmocka_unit_test (test_request_encoded_same_as_encode),
    cmocka_unit_test (test_errno_codes),
    cmocka_unit_test (test_errno_names),
    cmocka_unit_test (test_fd_round_trip),
    cmocka_unit_test (test_fd_timeout_and_eof),
    cmocka_unit_test (test_fd_bad_input),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
