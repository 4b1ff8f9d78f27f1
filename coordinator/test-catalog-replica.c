/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-catalog-replica.c: the catalog's replication without etcd
 * (catalog.c's design notes): a replica function that keeps each
 * changeset in memory, replayed with catalog_apply into a second
 * in-memory catalog that must then read exactly the same.
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
#include <sqlite3.h>

#include "catalog.h"
#include "test-catalog-workload.h"

struct collector {
  void *cs[256];
  size_t len[256];
  enum catalog_sync sync[256];
  size_t n;
  int refuse;                   /* errno to refuse with; 0: accept */
};

static int
collect (void *opaque, const void *changeset, size_t len,
         enum catalog_sync sync, char *err, size_t errlen)
{
  struct collector *c = opaque;

  if (c->refuse) {
    snprintf (err, errlen, "not the leader any more (test)");
    errno = c->refuse;
    return -1;
  }
  assert_true (c->n < 256);
  c->cs[c->n] = malloc (len);
  assert_non_null (c->cs[c->n]);
  memcpy (c->cs[c->n], changeset, len);
  c->len[c->n] = len;
  c->sync[c->n] = sync;
  c->n++;
  return 0;
}

static void
collector_clear (struct collector *c)
{
  size_t i;

  for (i = 0; i < c->n; i++)
    free (c->cs[i]);
  c->n = 0;
}

static struct catalog *
open_memory (void)
{
  char err[512];
  struct catalog *cat = catalog_open_memory (err, sizeof err);

  if (cat == NULL)
    fail_msg ("catalog_open_memory: %s", err);
  return cat;
}

static struct catalog *
replay (struct collector *c)
{
  struct catalog *cat = open_memory ();
  size_t i;

  for (i = 0; i < c->n; i++)
    if (catalog_apply (cat, c->cs[i], c->len[i]) == -1)
      fail_msg ("catalog_apply %zu: %s", i, catalog_errmsg (cat));
  return cat;
}

static void
test_replayed_changesets_read_the_same (void **state)
{
  struct collector c = { .n = 0 };
  struct catalog *leader = open_memory (), *copy;

  catalog_set_replica (leader, collect, &c);
  workload_run (leader);
  copy = replay (&c);
  workload_assert_same (leader, copy);

  /* sqlite_sequence replayed too: the newest set was removed, and the
   * next one gets the seq after it on both. */
  assert_int_equal (workload_next_set (leader), 8);
  assert_int_equal (workload_next_set (copy), 8);
  workload_assert_same (leader, copy);
  catalog_close (leader);
  catalog_close (copy);
  collector_clear (&c);
}

/* How many changes of kind OP to TABLE the changeset holds. */
static int
count_changes (const void *cs, size_t len, const char *table, int op)
{
  sqlite3_changeset_iter *it;
  int n = 0;

  assert_int_equal (sqlite3changeset_start (&it, (int) len, (void *) cs),
                    SQLITE_OK);
  while (sqlite3changeset_next (it) == SQLITE_ROW) {
    const char *t;
    int ncols, o, indirect;

    assert_int_equal (sqlite3changeset_op (it, &t, &ncols, &o, &indirect),
                      SQLITE_OK);
    if (strcmp (t, table) == 0 && o == op)
      n++;
  }
  assert_int_equal (sqlite3changeset_finalize (it), SQLITE_OK);
  return n;
}

static void
test_cascaded_deletes_are_in_the_changeset (void **state)
{
  struct collector c = { .n = 0 };
  struct catalog *leader = open_memory (), *copy;
  json_t *dropped, *volumes;

  catalog_set_replica (leader, collect, &c);
  workload_run (leader);
  copy = replay (&c);
  collector_clear (&c);

  /* storage-a has two volumes; forgetting it deletes them by cascade. */
  dropped = catalog_provider_forget (leader, "storage-a");
  assert_non_null (dropped);
  json_decref (dropped);
  assert_int_equal (c.n, 1);
  assert_int_equal (count_changes (c.cs[0], c.len[0], "providers",
                                   SQLITE_DELETE), 1);
  assert_int_equal (count_changes (c.cs[0], c.len[0], "volumes",
                                   SQLITE_DELETE), 2);
  /* set-one's snapshots, participants and holds go with it. */
  assert_int_equal (catalog_set_remove (leader, "set-one"), 0);
  assert_int_equal (c.n, 2);
  assert_int_equal (count_changes (c.cs[1], c.len[1], "set_snapshots",
                                   SQLITE_DELETE), 2);
  assert_int_equal (count_changes (c.cs[1], c.len[1], "participants",
                                   SQLITE_DELETE), 3);
  assert_int_equal (count_changes (c.cs[1], c.len[1], "set_holds",
                                   SQLITE_DELETE), 1);

  /* Saved again without volumes, it shows none on the copy either. */
  volumes = json_array ();
  assert_int_equal (catalog_provider_save (leader, "storage-a", "CN=a",
                                           "nbds://a/", NULL, 1, 2, volumes),
                    0);
  json_decref (volumes);
  assert_int_equal (catalog_apply (copy, c.cs[0], c.len[0]), 0);
  assert_int_equal (catalog_apply (copy, c.cs[1], c.len[1]), 0);
  assert_int_equal (catalog_apply (copy, c.cs[2], c.len[2]), 0);
  workload_assert_same (leader, copy);
  catalog_close (leader);
  catalog_close (copy);
  collector_clear (&c);
}

/* A set saved with catalog_set_save_state keeps the snapshots an
 * earlier save recorded, and its changeset touches no snapshot row. */
static void
test_set_save_state_leaves_the_snapshots_recorded (void **state)
{
  struct collector c = { .n = 0 };
  struct catalog *leader = open_memory (), *copy;
  json_t *set, *got;

  catalog_set_replica (leader, collect, &c);
  set = json_pack ("{ss ss ss si sn s[{ss ss ss ss ss si} {ss ss ss ss ss si}]"
                   " s[{ss ss ss sn}] sn}", "set_id", "set-kept",
                   "label", "nightly", "state", "thawing", "created", 1,
                   "finished", "snapshots",
                   "provider", "storage-a", "volume", "db", "id", "i1",
                   "export", "db@i1", "uri", "nbd://a/db@i1", "generation", 3,
                   "provider", "storage-a", "volume", "logs", "id", "i2",
                   "export", "logs@i2", "uri", "nbd://a/logs@i2",
                   "generation", 4, "participants", "kind", "provider",
                   "name", "storage-a", "state", "committed", "error",
                   "timings");
  assert_non_null (set);
  assert_int_equal (catalog_set_save (leader, set, CATALOG_LAZY), 0);
  /* committed, with no snapshots in the object passed */
  json_object_set_new (set, "state", json_string ("committed"));
  json_object_set_new (set, "finished", json_integer (2));
  json_object_set_new (set, "snapshots", json_array ());
  assert_int_equal (catalog_set_save_state (leader, set, CATALOG_DURABLE), 0);
  json_decref (set);
  assert_int_equal (c.n, 2);
  assert_int_equal (count_changes (c.cs[1], c.len[1], "set_snapshots",
                                   SQLITE_INSERT), 0);
  assert_int_equal (count_changes (c.cs[1], c.len[1], "set_snapshots",
                                   SQLITE_DELETE), 0);
  assert_int_equal (count_changes (c.cs[1], c.len[1], "sets",
                                   SQLITE_UPDATE), 1);

  got = catalog_set_get (leader, "set-kept", false);
  assert_non_null (got);
  assert_string_equal (json_string_value (json_object_get (got, "state")),
                       "committed");
  assert_int_equal (json_array_size (json_object_get (got, "snapshots")), 2);
  assert_string_equal (json_string_value (json_object_get
                                          (json_array_get (json_object_get
                                                           (got, "snapshots"),
                                                           1), "export")),
                       "logs@i2");
  json_decref (got);
  copy = replay (&c);
  workload_assert_same (leader, copy);
  catalog_close (leader);
  catalog_close (copy);
  collector_clear (&c);
}

static void
test_refused_replica_rolls_back_with_its_errno_and_message (void **state)
{
  struct collector c = { .n = 0 };
  struct catalog *leader = open_memory ();
  json_t *before, *after, *set;

  catalog_set_replica (leader, collect, &c);
  workload_run (leader);
  before = workload_dump (leader);
  collector_clear (&c);
  c.refuse = EPERM;

  /* A transaction, one statement alone, and a call returning JSON. */
  set = json_pack ("{ss ss ss si sn s[] s[] sn}", "set_id", "set-refused",
                   "label", "x", "state", "preparing", "created", 1,
                   "finished", "snapshots", "participants", "timings");
  errno = 0;
  assert_int_equal (catalog_set_save (leader, set, CATALOG_DURABLE), -1);
  assert_int_equal (errno, EPERM);
  assert_string_equal (catalog_errmsg (leader),
                       "not the leader any more (test)");
  json_decref (set);
  errno = 0;
  assert_int_equal (catalog_writer_forget (leader, "writer-db"), -1);
  assert_int_equal (errno, EPERM);
  errno = 0;
  assert_null (catalog_provider_forget (leader, "storage-a"));
  assert_int_equal (errno, EPERM);
  errno = 0;
  assert_int_equal (catalog_fail_unfinished (leader, "x", 1), 0);
  assert_int_equal (catalog_set_hold (leader, "set-one", "t", 5), -1);
  assert_int_equal (errno, EPERM);
  assert_int_equal (c.n, 0);

  after = workload_dump (leader);
  assert_true (json_equal (before, after));
  json_decref (after);

  /* Accepted again, writes go through. */
  c.refuse = 0;
  assert_int_equal (catalog_writer_forget (leader, "writer-db"), 0);
  assert_int_equal (c.n, 1);
  json_decref (before);
  catalog_close (leader);
  collector_clear (&c);
}

static void
test_no_change_calls_no_replica_and_sync_is_passed (void **state)
{
  struct collector c = { .n = 0 };
  struct catalog *leader = open_memory ();
  json_t *volumes = json_array (), *writers;

  catalog_set_replica (leader, collect, &c);
  assert_int_equal (catalog_provider_save (leader, "p", "CN=p", "nbds://p/",
                                           NULL, 1, 2, volumes), 0);
  assert_int_equal (c.n, 1);
  assert_int_equal (c.sync[0], CATALOG_DURABLE);
  assert_int_equal (catalog_deletion_add (leader, "p", "s"), 0);
  assert_int_equal (c.n, 2);
  assert_int_equal (catalog_deletion_add (leader, "p", "s"), 0);
  assert_int_equal (catalog_deletion_remove (leader, "p", "absent"), 0);
  assert_int_equal (catalog_set_release (leader, "absent", "t"), 0);
  assert_int_equal (c.n, 2);
  assert_int_equal (catalog_provider_seen (leader, "p", 7), 0);
  assert_int_equal (c.n, 3);
  assert_int_equal (c.sync[2], CATALOG_LAZY);
  writers = json_pack ("[{ss ss s[] si ss sn sn sn si}]", "name", "w",
                       "subject", "CN=w", "volumes", "freeze_timeout_ms", 1,
                       "state", "idle", "last_event", "last_event_time",
                       "last_error", "registered", 1);
  assert_int_equal (catalog_writers_save (leader, writers), 0);
  assert_int_equal (c.n, 4);
  assert_int_equal (c.sync[3], CATALOG_LAZY);
  /* Back to durable after a lazy one. */
  assert_int_equal (catalog_deletion_add (leader, "p", "t"), 0);
  assert_int_equal (c.n, 5);
  assert_int_equal (c.sync[4], CATALOG_DURABLE);
  json_decref (writers);
  json_decref (volumes);
  catalog_close (leader);
  collector_clear (&c);
}

static void
test_image_then_log_reads_the_same (void **state)
{
  struct collector c = { .n = 0 };
  struct catalog *leader = open_memory (), *copy;
  void *image;
  size_t len;
  char err[512];

  catalog_set_replica (leader, collect, &c);
  workload_run (leader);
  assert_int_equal (catalog_image (leader, &image, &len), 0);
  collector_clear (&c);
  /* Changes after the image, applied on top of it. */
  assert_int_equal (catalog_deletion_add (leader, "storage-b", "later"), 0);
  assert_int_equal (catalog_set_hold (leader, "set-one", "later", 0), 0);
  copy = catalog_open_image (image, len, err, sizeof err);
  if (copy == NULL)
    fail_msg ("catalog_open_image: %s", err);
  free (image);
  assert_int_equal (catalog_apply (copy, c.cs[0], c.len[0]), 0);
  assert_int_equal (catalog_apply (copy, c.cs[1], c.len[1]), 0);
  workload_assert_same (leader, copy);
  assert_int_equal (workload_next_set (leader), workload_next_set (copy));
  catalog_close (leader);
  catalog_close (copy);
  collector_clear (&c);
}

static void
test_bad_images_are_refused (void **state)
{
  char junk[4096], err[512];

  memset (junk, 'x', sizeof junk);
  assert_null (catalog_open_image (junk, sizeof junk, err, sizeof err));
  assert_string_equal (err, "catalog image: not a whole SQLite database: "
                       "file is not a database");
  assert_null (catalog_open_image (junk, 0, err, sizeof err));
  assert_string_equal (err, "catalog image: not the image of a replicated "
                       "catalog");
}

static void
test_a_changeset_applied_twice_is_refused (void **state)
{
  struct collector c = { .n = 0 };
  struct catalog *leader = open_memory (), *copy = open_memory ();
  json_t *before;

  catalog_set_replica (leader, collect, &c);
  assert_int_equal (catalog_deletion_add (leader, "p", "s"), 0);
  assert_int_equal (catalog_deletion_add (leader, "p", "t"), 0);
  assert_int_equal (catalog_apply (copy, c.cs[0], c.len[0]), 0);
  before = workload_dump (copy);
  errno = 0;
  assert_int_equal (catalog_apply (copy, c.cs[0], c.len[0]), -1);
  assert_int_equal (errno, EILSEQ);
  assert_string_equal (catalog_errmsg (copy), "catalog (memory): apply a "
                       "changeset: a row exists already in table "
                       "pending_deletions: the catalogs differ");
  /* Garbage is refused too, and nothing was applied. */
  assert_int_equal (catalog_apply (copy, "garbage", 7), -1);
  assert_int_equal (errno, EILSEQ);
  assert_string_equal (catalog_errmsg (copy), "catalog (memory): apply a "
                       "changeset: database disk image is malformed");
  {
    json_t *after = workload_dump (copy);

    assert_true (json_equal (before, after));
    json_decref (after);
  }
  assert_int_equal (catalog_apply (copy, c.cs[1], c.len[1]), 0);
  workload_assert_same (leader, copy);
  json_decref (before);
  catalog_close (leader);
  catalog_close (copy);
  collector_clear (&c);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_replayed_changesets_read_the_same),
    cmocka_unit_test (test_cascaded_deletes_are_in_the_changeset),
    cmocka_unit_test (test_set_save_state_leaves_the_snapshots_recorded),
    cmocka_unit_test (test_refused_replica_rolls_back_with_its_errno_and_message),
    cmocka_unit_test (test_no_change_calls_no_replica_and_sync_is_passed),
    cmocka_unit_test (test_image_then_log_reads_the_same),
    cmocka_unit_test (test_bad_images_are_refused),
    cmocka_unit_test (test_a_changeset_applied_twice_is_refused),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
