/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-rpcerr.c: unit tests of common/rpcerr.c: the error responses
 * every JSON-RPC server of snapvol sends, byte for byte.
 */

#include <config.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jsonrpc.h"
#include "rpcerr.h"

/* MSG, compact with sorted keys, must be EXPECTED; MSG is released. */
static void
assert_json (json_t *msg, const char *expected)
{
  char *text;

  assert_non_null (msg);
  text = json_dumps (msg, JSON_COMPACT | JSON_SORT_KEYS);
  assert_non_null (text);
  assert_string_equal (text, expected);
  free (text);
  json_decref (msg);
}

static void
test_set_and_errno_build_the_documented_response (void **state)
{
  struct rpcerr e = { .code = 0 };
  json_t *id = json_integer (7);

  (void) state;
  errno = EIO;
  assert_int_equal (rpcerr_set (&e, SV_RPC_EXPIRED, "hold %s expired", "h1"),
                    -1);
  assert_int_equal (errno, EIO);
  assert_json (rpcerr_response (id, &e),
               "{\"error\":{\"code\":-32006,\"message\":\"hold h1 expired\"},"
               "\"id\":7,\"jsonrpc\":\"2.0\"}");

  assert_int_equal (rpcerr_errno (&e, ENOENT, "no volume %s", "data"), -1);
  assert_int_equal (e.code, SV_RPC_NOT_FOUND);
  assert_json (rpcerr_response (id, &e),
               "{\"error\":{\"code\":-32001,\"data\":{\"errno\":\"ENOENT\"},"
               "\"message\":\"no volume data\"},\"id\":7,\"jsonrpc\":\"2.0\"}");
  /* The response took the data. */
  assert_null (e.data);

  rpcerr_nomem (&e);
  assert_json (rpcerr_response (NULL, &e),
               "{\"error\":{\"code\":-32603,\"message\":\"out of memory\"},"
               "\"id\":null,\"jsonrpc\":\"2.0\"}");
  rpcerr_unknown_method (&e, "pool.frobnicate");
  assert_json (rpcerr_response (id, &e),
               "{\"error\":{\"code\":-32601,\"message\":"
               "\"unknown method 'pool.frobnicate'\"},\"id\":7,"
               "\"jsonrpc\":\"2.0\"}");
  json_decref (id);
}

static void
test_errno_twice_keeps_only_the_last_data (void **state)
{
  struct rpcerr e = { .code = 0 };

  (void) state;
  rpcerr_errno (&e, EEXIST, "first");
  rpcerr_errno (&e, ENOSPC, "second");
  assert_int_equal (e.code, SV_RPC_NO_SPACE);
  assert_string_equal (json_string_value (json_object_get (e.data, "errno")),
                       "ENOSPC");
  rpcerr_clear (&e);
  assert_null (e.data);
}

static void
test_long_messages_are_truncated (void **state)
{
  struct rpcerr e = { .code = 0 };
  char big[3000];

  (void) state;
  memset (big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  rpcerr_set (&e, JSONRPC_INVALID_PARAMS, "%s", big);
  assert_int_equal (strlen (e.message), RPCERR_MESSAGE_MAX - 1);
}

static void
test_too_long_answers_the_id_with_emsgsize (void **state)
{
  json_t *id = json_string ("req-1");

  (void) state;
  assert_json (rpcerr_too_long (id),
               "{\"error\":{\"code\":-32603,\"data\":{\"errno\":\"EMSGSIZE\"},"
               "\"message\":\"the result is longer than the 1048576-byte "
               "message limit\"},\"id\":\"req-1\",\"jsonrpc\":\"2.0\"}");
  json_decref (id);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_set_and_errno_build_the_documented_response),
    cmocka_unit_test (test_errno_twice_keeps_only_the_last_data),
    cmocka_unit_test (test_long_messages_are_truncated),
    cmocka_unit_test (test_too_long_answers_the_id_with_emsgsize),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
