/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-catalog-etcd.c: the catalog on etcd (catalog-etcd.c) against a
 * real etcd with client TLS, started by
 * tests/coordinator/test-catalog-etcd.sh (ETCD_TEST_ENDPOINT,
 * ETCD_TEST_CA, ETCD_TEST_CERT, ETCD_TEST_KEY).  Skipped (77) without
 * them.  Each test works under its own prefix.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "catalog-etcd.h"
#include "test-catalog-workload.h"

#define ADVERTISE "127.0.0.1:7000"

static const char *endpoint, *ca, *cert, *key;

static struct etcd *
open_etcd (void)
{
  struct etcd_conf conf = {
    .endpoints = &endpoint, .nendpoints = 1,
    .ca = ca, .certificate = cert, .key = key, .timeout_ms = 5000,
  };
  char err[512];
  struct etcd *e = etcd_open (&conf, err, sizeof err);

  if (e == NULL)
    fail_msg ("etcd_open: %s", err);
  return e;
}

/* Put PREFIX/leader = VALUE; its create_revision is the term. */
static uint64_t
become_leader (struct etcd *e, const char *prefix, const char *value)
{
  char k[300], err[512];
  struct etcd_kv kv;
  bool found;
  uint64_t term;

  snprintf (k, sizeof k, "%s/leader", prefix);
  if (etcd_put (e, k, value, strlen (value), 0, err, sizeof err) == -1 ||
      etcd_get (e, k, &kv, &found, NULL, err, sizeof err) == -1)
    fail_msg ("leader key: %s", err);
  assert_true (found);
  term = (uint64_t) kv.create_revision;
  etcd_kv_free (&kv);
  return term;
}

static struct catalog *
load (struct etcd *e, const char *prefix)
{
  char err[1024];
  struct catalog *cat = catalog_etcd_load (e, prefix, err, sizeof err);

  if (cat == NULL)
    fail_msg ("catalog_etcd_load: %s", err);
  return cat;
}

static struct catalog *
load_and_attach (struct etcd *e, const char *prefix, uint64_t term,
                 unsigned every)
{
  struct catalog *cat = load (e, prefix);
  char err[1024];

  if (catalog_etcd_attach_every (cat, e, prefix, term, ADVERTISE, every,
                                 err, sizeof err) == -1)
    fail_msg ("catalog_etcd_attach: %s", err);
  return cat;
}

/* How many keys are under PREFIX. */
static size_t
count_keys (struct etcd *e, const char *prefix)
{
  struct etcd_kv *kvs;
  size_t n;
  char err[512];

  if (etcd_range (e, prefix, NULL, 0, &kvs, &n, NULL, err, sizeof err) == -1)
    fail_msg ("range %s: %s", prefix, err);
  etcd_kvs_free (kvs, n);
  return n;
}

static void
test_every_write_loads_back_the_same (void **state)
{
  const char *prefix = "/t-same";
  struct etcd *e = open_etcd ();
  uint64_t term = become_leader (e, prefix, ADVERTISE);
  struct catalog *leader = load_and_attach (e, prefix, term, 1000), *copy;

  workload_run (leader);
  assert_true (count_keys (e, "/t-same/catalog/log/") > 30);
  copy = load (e, prefix);
  workload_assert_same (leader, copy);
  assert_int_equal (workload_next_set (leader), 8);
  assert_int_equal (workload_next_set (copy), 8);
  catalog_close (copy);

  /* A catalog attached after a load continues the log. */
  copy = load_and_attach (e, prefix, term, 1000);
  catalog_close (leader);
  assert_int_equal (catalog_deletion_add (copy, "storage-b", "later"), 0);
  leader = load (e, prefix);
  workload_assert_same (leader, copy);
  catalog_close (leader);
  catalog_close (copy);
  etcd_close (e);
}

static void
test_refused_guard_fails_with_eperm_and_changes_nothing (void **state)
{
  const char *prefix = "/t-guard";
  struct etcd *e = open_etcd ();
  uint64_t term = become_leader (e, prefix, ADVERTISE);
  struct catalog *leader = load_and_attach (e, prefix, term, 1000), *copy;
  json_t *before, *after, *dropped;
  size_t entries;
  char want[512];
  uint64_t term2;

  workload_run (leader);
  before = workload_dump (leader);
  entries = count_keys (e, "/t-guard/catalog/");

  /* Another coordinator won: the leader key was created again. */
  {
    char err[512];

    assert_int_equal (etcd_delete (e, "/t-guard/leader", false, NULL, err,
                                   sizeof err), 0);
  }
  term2 = become_leader (e, prefix, "127.0.0.2:7000");
  errno = 0;
  assert_int_equal (catalog_deletion_add (leader, "storage-a", "x"), -1);
  assert_int_equal (errno, EPERM);
  snprintf (want, sizeof want, "not the leader any more: /t-guard/leader "
            "is 127.0.0.2:7000 at term %" PRIu64 " (this coordinator: "
            ADVERTISE ", term %" PRIu64 "); append /t-guard/catalog/log/"
            "%020zu refused", term2, term, entries + 1);
  assert_string_equal (catalog_errmsg (leader), want);
  errno = 0;
  dropped = catalog_provider_forget (leader, "storage-a");
  assert_null (dropped);
  assert_int_equal (errno, EPERM);

  /* Same term, another address (the guard compares both). */
  {
    char err[512];

    assert_int_equal (etcd_delete (e, "/t-guard/leader", false, NULL, err,
                                   sizeof err), 0);
    term = become_leader (e, prefix, ADVERTISE);
    assert_int_equal (etcd_put (e, "/t-guard/leader", "elsewhere:1", 11, 0,
                                err, sizeof err), 0);
  }
  catalog_close (leader);
  leader = load_and_attach (e, prefix, term, 1000);
  errno = 0;
  assert_int_equal (catalog_writer_forget (leader, "writer-db"), -1);
  assert_int_equal (errno, EPERM);
  assert_memory_equal (catalog_errmsg (leader), "not the leader any more: ",
                       25);

  after = workload_dump (leader);
  assert_true (json_equal (before, after));
  json_decref (after);
  assert_int_equal (count_keys (e, "/t-guard/catalog/"), entries);
  copy = load (e, prefix);
  workload_assert_same (leader, copy);
  json_decref (before);
  catalog_close (leader);
  catalog_close (copy);
  etcd_close (e);
}

static void
test_compaction_then_load_gives_the_same (void **state)
{
  const char *prefix = "/t-compact";
  struct etcd *e = open_etcd ();
  uint64_t term = become_leader (e, prefix, ADVERTISE);
  struct catalog *leader = load_and_attach (e, prefix, term, 5), *copy;
  struct etcd_kv kv;
  bool found;
  char err[512];

  workload_run (leader);
  assert_int_equal (etcd_get (e, "/t-compact/catalog/base", &kv, &found,
                              NULL, err, sizeof err), 0);
  assert_true (found);
  etcd_kv_free (&kv);
  /* At most EVERY entries after the base, one image left. */
  assert_true (count_keys (e, "/t-compact/catalog/log/") < 5);
  assert_int_equal (count_keys (e, "/t-compact/catalog/image/"), 1);
  copy = load (e, prefix);
  workload_assert_same (leader, copy);
  assert_int_equal (workload_next_set (leader), workload_next_set (copy));
  catalog_close (copy);

  /* Attached again after a load from the image, it continues. */
  catalog_close (leader);
  leader = load_and_attach (e, prefix, term, 5);
  assert_int_equal (catalog_set_hold (leader, "set-one", "late", 0), 0);
  copy = load (e, prefix);
  workload_assert_same (leader, copy);
  catalog_close (copy);
  catalog_close (leader);
  etcd_close (e);
}

/* A provider with enough volumes for a changeset of about 2.4 MiB:
 * over etcd's 1.5 MiB request limit, so it goes in chunks. */
static json_t *
many_volumes (void)
{
  json_t *volumes = json_array ();
  char name[64], uuid[1100];
  int i;

  memset (uuid, 'u', sizeof uuid - 1);
  uuid[sizeof uuid - 1] = '\0';
  for (i = 0; i < 2200; i++) {
    snprintf (name, sizeof name, "volume-%05d", i);
    uuid[0] = (char) ('a' + i % 26);
    json_array_append_new (volumes, json_pack ("{ss ss si}", "name", name,
                                               "uuid", uuid, "size", i));
  }
  return volumes;
}

static void
test_changeset_over_the_chunk_limit (void **state)
{
  const char *prefix = "/t-big";
  struct etcd *e = open_etcd ();
  uint64_t term = become_leader (e, prefix, ADVERTISE);
  struct catalog *leader = load_and_attach (e, prefix, term, 1000), *copy;
  json_t *volumes = many_volumes (), *a, *b;

  assert_int_equal (catalog_provider_save (leader, "storage-big", "CN=big",
                                           "nbds://big/", NULL, 1, 2,
                                           volumes), 0);
  json_decref (volumes);
  assert_int_equal (count_keys (e, "/t-big/catalog/log/"), 1);
  assert_int_equal (count_keys (e, "/t-big/catalog/log-chunks/"), 5);
  copy = load (e, prefix);
  a = catalog_providers (leader);
  b = catalog_providers (copy);
  assert_true (json_equal (a, b));
  assert_int_equal (json_array_size (json_object_get (json_array_get (b, 0),
                                                      "volumes")), 2200);
  json_decref (a);
  json_decref (b);
  catalog_close (copy);
  catalog_close (leader);

  /* Compacted, the image is over the limit too, in chunks. */
  leader = load_and_attach (e, prefix, term, 1);
  assert_int_equal (catalog_provider_seen (leader, "storage-big", 3), 0);
  assert_int_equal (count_keys (e, "/t-big/catalog/log/"), 0);
  assert_int_equal (count_keys (e, "/t-big/catalog/log-chunks/"), 0);
  assert_true (count_keys (e, "/t-big/catalog/image/") >= 5);
  copy = load (e, prefix);
  a = catalog_providers (leader);
  b = catalog_providers (copy);
  assert_true (json_equal (a, b));
  json_decref (a);
  json_decref (b);
  catalog_close (copy);
  catalog_close (leader);
  etcd_close (e);
}

static void
test_load_refuses_a_gap_in_the_log (void **state)
{
  const char *prefix = "/t-gap";
  struct etcd *e = open_etcd ();
  uint64_t term = become_leader (e, prefix, ADVERTISE);
  struct catalog *leader = load_and_attach (e, prefix, term, 1000);
  char err[1024];

  assert_int_equal (catalog_deletion_add (leader, "p", "a"), 0);
  assert_int_equal (catalog_deletion_add (leader, "p", "b"), 0);
  assert_int_equal (catalog_deletion_add (leader, "p", "c"), 0);
  assert_int_equal (etcd_delete (e, "/t-gap/catalog/log/00000000000000000002",
                                 false, NULL, err, sizeof err), 0);
  errno = 0;
  assert_null (catalog_etcd_load (e, prefix, err, sizeof err));
  assert_int_equal (errno, EILSEQ);
  assert_string_equal (err, "catalog on etcd: log entry 2 is missing "
                       "(found /t-gap/catalog/log/00000000000000000003)");
  catalog_close (leader);
  etcd_close (e);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_every_write_loads_back_the_same),
    cmocka_unit_test (test_refused_guard_fails_with_eperm_and_changes_nothing),
    cmocka_unit_test (test_compaction_then_load_gives_the_same),
    cmocka_unit_test (test_changeset_over_the_chunk_limit),
    cmocka_unit_test (test_load_refuses_a_gap_in_the_log),
  };

  endpoint = getenv ("ETCD_TEST_ENDPOINT");
  ca = getenv ("ETCD_TEST_CA");
  cert = getenv ("ETCD_TEST_CERT");
  key = getenv ("ETCD_TEST_KEY");
  if (endpoint == NULL || ca == NULL || cert == NULL || key == NULL) {
    fprintf (stderr, "test-catalog-etcd: SKIP: run by "
             "test-catalog-etcd.sh, which starts etcd\n");
    return 77;
  }
  return cmocka_run_group_tests (tests, NULL, NULL);
}
