/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-rpcconn-targets.c: unit tests of the address lists of
 * common/rpcconn.c (rpcconn_targets_*, rpcconn_not_leader): the one
 * rule by which providers, writers and snapvolctl find the leading
 * coordinator (docs/protocol.md, "Several coordinators").
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

#include <cmocka.h>
#include <jansson.h>

#include "rpcconn.h"

static struct rpcconn_targets *
parse (const char *list)
{
  char err[256] = "";
  struct rpcconn_targets *t = rpcconn_targets_new (list, err, sizeof err);

  if (t == NULL)
    fail_msg ("%s: %s", list, err);
  return t;
}

/* The attempts of one round, each failing with "no X" and naming
 * LEADERS[i] (or none), as "A B C". */
static void
assert_round (struct rpcconn_targets *t, const char *const *leaders,
              const char *expected)
{
  char got[256] = "", why[64];
  const char *address;
  size_t i = 0;

  while ((address = rpcconn_targets_next (t)) != NULL) {
    snprintf (got + strlen (got), sizeof got - strlen (got), "%s%s",
              got[0] ? " " : "", address);
    snprintf (why, sizeof why, "no %s", address);
    rpcconn_targets_failed (t, why, leaders ? leaders[i++] : NULL);
  }
  assert_string_equal (got, expected);
}

static void
test_a_single_address_is_one_attempt_per_round (void **state)
{
  struct rpcconn_targets *t = parse ("[::1]:10810");

  assert_int_equal (rpcconn_targets_count (t), 1);
  assert_round (t, NULL, "[::1]:10810");
  /* Its reason alone, as a single coordinator always reported it. */
  assert_string_equal (rpcconn_targets_why (t), "no [::1]:10810");
  rpcconn_targets_new_round (t);
  assert_string_equal (rpcconn_targets_why (t), "");
  assert_round (t, NULL, "[::1]:10810");
  rpcconn_targets_free (t);
}

static void
test_a_round_tries_each_address_in_order_and_joins_the_reasons (void **state)
{
  struct rpcconn_targets *t = parse ("a:1,b:2,c");

  assert_int_equal (rpcconn_targets_count (t), 3);
  assert_round (t, NULL, "a:1 b:2 c");
  assert_string_equal (rpcconn_targets_why (t), "no a:1; no b:2; no c");
  rpcconn_targets_new_round (t);
  assert_round (t, NULL, "a:1 b:2 c");
  rpcconn_targets_free (t);
}

static void
test_a_named_leader_is_tried_next_once_per_round (void **state)
{
  const char *leaders[] = { "x:9", "y:8", NULL, NULL };
  struct rpcconn_targets *t = parse ("a:1,b:2");

  /* a names x, x names y: only the first redirect is followed. */
  assert_round (t, leaders, "a:1 x:9 b:2");
  assert_string_equal (rpcconn_targets_why (t), "no a:1; no x:9; no b:2");
  rpcconn_targets_new_round (t);
  assert_round (t, leaders, "a:1 x:9 b:2");
  rpcconn_targets_free (t);
}

static void
test_a_listed_leader_is_not_tried_twice_in_a_round (void **state)
{
  const char *leaders[] = { "c:3", NULL, NULL };
  struct rpcconn_targets *t = parse ("a:1,b:2,c:3");

  assert_round (t, leaders, "a:1 c:3 b:2");
  rpcconn_targets_free (t);
}

static void
test_an_address_naming_itself_is_not_tried_again (void **state)
{
  const char *leaders[] = { "a:1", NULL };
  struct rpcconn_targets *t = parse ("a:1,b:2");

  assert_round (t, leaders, "a:1 b:2");
  rpcconn_targets_free (t);
}

static void
test_the_round_after_a_leader_starts_after_it (void **state)
{
  struct rpcconn_targets *t = parse ("a:1,b:2,c:3");

  assert_string_equal (rpcconn_targets_next (t), "a:1");
  rpcconn_targets_failed (t, "no a:1", NULL);
  assert_string_equal (rpcconn_targets_next (t), "b:2");
  rpcconn_targets_reached (t);
  rpcconn_targets_new_round (t);
  assert_round (t, NULL, "c:3 a:1 b:2");
  /* A round that reached nobody keeps its start. */
  rpcconn_targets_new_round (t);
  assert_round (t, NULL, "c:3 a:1 b:2");
  rpcconn_targets_free (t);
}

static void
test_a_leader_reached_by_redirect_moves_the_start_after_it (void **state)
{
  struct rpcconn_targets *t = parse ("a:1,b:2,c:3");

  assert_string_equal (rpcconn_targets_next (t), "a:1");
  rpcconn_targets_failed (t, "no a:1", "b:2");
  assert_string_equal (rpcconn_targets_next (t), "b:2");
  rpcconn_targets_reached (t);
  rpcconn_targets_new_round (t);
  assert_round (t, NULL, "c:3 a:1 b:2");

  /* A leader outside the list leaves the start where it was. */
  rpcconn_targets_new_round (t);
  assert_string_equal (rpcconn_targets_next (t), "c:3");
  rpcconn_targets_failed (t, "no c:3", "z:5");
  assert_string_equal (rpcconn_targets_next (t), "z:5");
  rpcconn_targets_reached (t);
  rpcconn_targets_new_round (t);
  assert_round (t, NULL, "c:3 a:1 b:2");
  rpcconn_targets_free (t);
}

static void
assert_refused (const char *list, const char *expected)
{
  char err[512] = "";

  errno = 0;
  assert_null (rpcconn_targets_new (list, err, sizeof err));
  assert_int_equal (errno, EINVAL);
  assert_string_equal (err, expected);
}

static void
test_bad_lists_are_refused_naming_what_is_wrong (void **state)
{
  char many[512] = "";
  int i;

  assert_refused ("", "invalid address '': no host (expected HOST:PORT)");
  assert_refused ("a:99999", "invalid address 'a:99999': the port must be "
                  "a number from 1 to 65535");
  assert_refused ("a:1,:2", "invalid address ':2': no host (expected "
                  "HOST:PORT)");
  assert_refused ("a:1,,b:2", "invalid address list 'a:1,,b:2': an empty "
                  "address (expected HOST:PORT,HOST:PORT)");
  assert_refused (",a:1", "invalid address list ',a:1': an empty "
                  "address (expected HOST:PORT,HOST:PORT)");
  assert_refused ("a:1,", "invalid address list 'a:1,': an empty "
                  "address (expected HOST:PORT,HOST:PORT)");
  for (i = 0; i < RPCCONN_MAX_ADDRESSES + 1; i++)
    snprintf (many + strlen (many), sizeof many - strlen (many), "%sh%d:1",
              i ? "," : "", i);
  {
    char expected[600];

    snprintf (expected, sizeof expected, "invalid address list '%s': more "
              "than 16 addresses", many);
    assert_refused (many, expected);
  }
  many[strlen (many) - strlen (",h16:1")] = '\0';
  rpcconn_targets_free (parse (many));
}

static void
test_not_leader_is_told_from_not_registered (void **state)
{
  json_t *r;
  const char *leader = "unset";

  r = json_loads ("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32012,"
                  "\"message\":\"m\",\"data\":{\"leader\":\"h:1\"}}}", 0, NULL);
  assert_true (rpcconn_not_leader (r, &leader));
  assert_string_equal (leader, "h:1");
  json_decref (r);
  r = json_loads ("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32012,"
                  "\"message\":\"m\",\"data\":{\"leader\":null}}}", 0, NULL);
  assert_true (rpcconn_not_leader (r, &leader));
  assert_null (leader);
  json_decref (r);
  /* Part 2's "not registered", even with a leader member; and the
   * code without the data that names the leader. */
  r = json_loads ("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32009,"
                  "\"message\":\"m\",\"data\":{\"leader\":\"h:1\"}}}", 0,
                  NULL);
  assert_false (rpcconn_not_leader (r, &leader));
  json_decref (r);
  r = json_loads ("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32012,"
                  "\"message\":\"m\"}}", 0, NULL);
  assert_false (rpcconn_not_leader (r, &leader));
  json_decref (r);
  r = json_loads ("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32001,"
                  "\"message\":\"m\",\"data\":{\"leader\":\"h:1\"}}}", 0, NULL);
  assert_false (rpcconn_not_leader (r, &leader));
  json_decref (r);
  r = json_loads ("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", 0, NULL);
  assert_false (rpcconn_not_leader (r, &leader));
  json_decref (r);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_a_single_address_is_one_attempt_per_round),
    cmocka_unit_test (test_a_round_tries_each_address_in_order_and_joins_the_reasons),
    cmocka_unit_test (test_a_named_leader_is_tried_next_once_per_round),
    cmocka_unit_test (test_a_listed_leader_is_not_tried_twice_in_a_round),
    cmocka_unit_test (test_an_address_naming_itself_is_not_tried_again),
    cmocka_unit_test (test_the_round_after_a_leader_starts_after_it),
    cmocka_unit_test (test_a_leader_reached_by_redirect_moves_the_start_after_it),
    cmocka_unit_test (test_bad_lists_are_refused_naming_what_is_wrong),
    cmocka_unit_test (test_not_leader_is_told_from_not_registered),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
