/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-catalog-workload.c: every catalog write, and every read, for
 * the replication tests (test-catalog-workload.h).
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

#include "catalog.h"
#include "test-catalog-workload.h"

static json_t *
parse (const char *text)
{
  json_error_t jerr;
  json_t *j = json_loads (text, 0, &jerr);

  if (j == NULL)
    fail_msg ("bad JSON in the test: %s: %s", jerr.text, text);
  return j;
}

static void
check (struct catalog *cat, int r, const char *what)
{
  if (r == -1)
    fail_msg ("%s: %s", what, catalog_errmsg (cat));
}

static void
save_set (struct catalog *cat, const char *text, enum catalog_sync sync)
{
  json_t *set = parse (text);

  check (cat, catalog_set_save (cat, set, sync), "catalog_set_save");
  json_decref (set);
}

static void
save_provider (struct catalog *cat, const char *name, const char *volumes)
{
  json_t *v = parse (volumes);

  check (cat, catalog_provider_save (cat, name, "CN=x", "nbds://h/",
                                     strcmp (name, "storage-b") ? "1.0" : NULL,
                                     1000, 1001, v),
         "catalog_provider_save");
  json_decref (v);
}

#define SET(id, state, extra)                                           \
  "{\"set_id\": \"" id "\", \"label\": \"l-" id "\", \"state\": \""    \
  state "\", \"created\": 2000, \"finished\": null, " extra "}"
#define SNAPS_AB                                                        \
  "\"snapshots\": [{\"provider\": \"storage-a\", \"volume\": \"db\", "  \
  "\"id\": \"s1\", \"export\": \"db@s1\", \"uri\": \"nbds://a/db@s1\", " \
  "\"generation\": 7}, {\"provider\": \"storage-b\", \"volume\": "     \
  "\"logs\", \"id\": \"s2\", \"export\": \"logs@s2\", \"uri\": "        \
  "\"nbds://b/logs@s2\", \"generation\": 9}], "
#define PARTS_AB                                                        \
  "\"participants\": [{\"kind\": \"writer\", \"name\": \"writer-db\", " \
  "\"state\": \"thawed\", \"error\": null}, {\"kind\": \"provider\", "  \
  "\"name\": \"storage-a\", \"state\": \"pinned\", \"error\": null}, "   \
  "{\"kind\": \"provider\", \"name\": \"storage-b\", \"state\": "        \
  "\"pinned\", \"error\": \"slow\"}]"

void
workload_run (struct catalog *cat)
{
  json_t *j, *dropped;

  save_provider (cat, "storage-a",
                 "[{\"name\": \"db\", \"uuid\": \"u1\", \"size\": 1024},"
                 " {\"name\": \"logs\", \"uuid\": \"u2\", \"size\": 2048}]");
  save_provider (cat, "storage-b",
                 "[{\"name\": \"logs\", \"uuid\": \"u3\", \"size\": 4096}]");
  save_provider (cat, "storage-c",
                 "[{\"name\": \"c1\", \"uuid\": \"u4\", \"size\": 1},"
                 " {\"name\": \"c2\", \"uuid\": \"u5\", \"size\": 2}]");
  check (cat, catalog_provider_seen (cat, "storage-a", 1500),
         "catalog_provider_seen");

  j = parse ("[{\"name\": \"writer-db\", \"subject\": \"CN=writer-db\", "
             "\"volumes\": [\"db\"], \"freeze_timeout_ms\": 3000, "
             "\"state\": \"thawed\", \"last_event\": \"thaw\", "
             "\"last_event_time\": 1600, \"last_error\": null, "
             "\"registered\": 1100}, {\"name\": \"writer-gone\", "
             "\"subject\": \"CN=g\", \"volumes\": [], "
             "\"freeze_timeout_ms\": 1, \"state\": \"idle\", "
             "\"last_event\": null, \"last_event_time\": null, "
             "\"last_error\": \"x\", \"registered\": 1}]");
  check (cat, catalog_writers_save (cat, j), "catalog_writers_save");
  json_decref (j);
  check (cat, catalog_writer_forget (cat, "writer-gone"),
         "catalog_writer_forget");

  /* Sets: durable, then lazy intermediate phases, then final. */
  save_set (cat, SET ("set-one", "preparing", SNAPS_AB PARTS_AB
                      ", \"timings\": null"), CATALOG_DURABLE);
  save_set (cat, SET ("set-one", "holding", SNAPS_AB PARTS_AB
                      ", \"timings\": null"), CATALOG_LAZY);
  save_set (cat, "{\"set_id\": \"set-one\", \"label\": \"l-set-one\", "
            "\"state\": \"committed\", \"created\": 2000, \"finished\": "
            "2005, " SNAPS_AB PARTS_AB ", \"timings\": {\"freeze_ms\": 10, "
            "\"hold_ms\": 20, \"total_ms\": 30}}", CATALOG_DURABLE);
  save_set (cat, SET ("set-two", "freezing", "\"snapshots\": [], "
                      PARTS_AB ", \"timings\": null"), CATALOG_LAZY);
  save_set (cat, SET ("set-three", "pinning", SNAPS_AB PARTS_AB
                      ", \"timings\": null"), CATALOG_DURABLE);
  save_set (cat, SET ("set-failed", "failed", "\"reason\": \"no quorum\", "
                      "\"snapshots\": [], \"participants\": [], "
                      "\"timings\": null"), CATALOG_DURABLE);
  save_set (cat, SET ("set-newest", "committed", SNAPS_AB PARTS_AB
                      ", \"timings\": null"), CATALOG_DURABLE);

  /* Holds, with a release; the newest set's holds go with it. */
  check (cat, catalog_set_hold (cat, "set-one", "backup", 9000),
         "catalog_set_hold");
  check (cat, catalog_set_hold (cat, "set-one", "forever", 0),
         "catalog_set_hold");
  check (cat, catalog_set_hold (cat, "set-one", "brief", 3000),
         "catalog_set_hold");
  check (cat, catalog_set_hold (cat, "set-one", "backup", 9500),
         "catalog_set_hold again");
  check (cat, catalog_set_release (cat, "set-one", "brief"),
         "catalog_set_release");
  check (cat, catalog_set_hold (cat, "set-newest", "n", 0),
         "catalog_set_hold");

  /* Queues. */
  check (cat, catalog_deletion_add (cat, "storage-a", "old-1"),
         "catalog_deletion_add");
  check (cat, catalog_deletion_add (cat, "storage-a", "old-2"),
         "catalog_deletion_add");
  check (cat, catalog_deletion_add (cat, "storage-a", "old-0"),
         "catalog_deletion_add");
  check (cat, catalog_deletion_add (cat, "storage-a", "old-1"),
         "catalog_deletion_add again");
  check (cat, catalog_deletion_add (cat, "storage-b", "old-9"),
         "catalog_deletion_add");
  check (cat, catalog_deletion_remove (cat, "storage-a", "old-2"),
         "catalog_deletion_remove");
  j = parse ("[\"storage-b\", \"storage-a\", \"storage-c\"]");
  check (cat, catalog_undo_arm (cat, "undo-1", j), "catalog_undo_arm");
  check (cat, catalog_undo_arm (cat, "undo-2", j), "catalog_undo_arm");
  check (cat, catalog_undo_remove (cat, "storage-c", "undo-2"),
         "catalog_undo_remove");
  check (cat, catalog_undo_settle (cat, "undo-1"), "catalog_undo_settle");
  check (cat, catalog_release_queue (cat, "set-one", "backup", j),
         "catalog_release_queue");
  check (cat, catalog_release_queue (cat, "set-one", "other", j),
         "catalog_release_queue");
  check (cat, catalog_release_remove (cat, "storage-a", "set-one", "other"),
         "catalog_release_remove");
  json_decref (j);

  /* A provider forgotten: its volumes cascade, its queues go. */
  dropped = catalog_provider_forget (cat, "storage-c");
  if (dropped == NULL)
    fail_msg ("catalog_provider_forget: %s", catalog_errmsg (cat));
  json_decref (dropped);

  /* Recovery fails the unfinished sets and queues their deletions. */
  assert_int_equal (catalog_fail_unfinished (cat, "coordinator restarted",
                                             3000), 2);
  check (cat, catalog_set_remove (cat, "set-failed"), "catalog_set_remove");
  check (cat, catalog_set_remove (cat, "set-newest"), "catalog_set_remove");
}

int64_t
workload_next_set (struct catalog *cat)
{
  int64_t seq = -1;

  save_set (cat, SET ("set-after", "preparing", "\"snapshots\": [], "
                      "\"participants\": [], \"timings\": null"),
            CATALOG_DURABLE);
  check (cat, catalog_set_seq (cat, "set-after", &seq), "catalog_set_seq");
  return seq;
}

static void
add (json_t *dump, const char *name, json_t *v)
{
  if (v == NULL)
    v = json_string ("(error)");
  json_object_set_new (dump, name, v);
}

json_t *
workload_dump (struct catalog *cat)
{
  static const char *const sets[] = {
    "set-one", "set-two", "set-three", "set-failed", "set-newest",
    "set-after", NULL
  };
  static const char *const providers[] = {
    "storage-a", "storage-b", "storage-c", NULL
  };
  struct catalog_stats stats;
  json_t *dump = json_object ();
  size_t i;
  char name[64];

  add (dump, "providers", catalog_providers (cat));
  add (dump, "writers", catalog_writers (cat));
  add (dump, "set_list", catalog_set_list (cat, NULL));
  add (dump, "set_list_failed", catalog_set_list (cat, "failed"));
  add (dump, "summaries", catalog_set_summaries (cat, 100));
  add (dump, "queued", catalog_queued (cat, 100));
  for (i = 0; sets[i]; i++) {
    int64_t seq = -1;
    json_t *set;

    snprintf (name, sizeof name, "get %s", sets[i]);
    set = catalog_set_get (cat, sets[i], true);
    add (dump, name, set ? set : json_sprintf ("errno %d", errno));
    snprintf (name, sizeof name, "seq %s", sets[i]);
    add (dump, name, catalog_set_seq (cat, sets[i], &seq) == 0
         ? json_integer (seq) : json_sprintf ("errno %d", errno));
    snprintf (name, sizeof name, "providers of %s", sets[i]);
    add (dump, name, catalog_set_providers (cat, sets[i]));
  }
  for (i = 0; providers[i]; i++) {
    snprintf (name, sizeof name, "deletions %s", providers[i]);
    add (dump, name, catalog_deletions (cat, providers[i]));
    snprintf (name, sizeof name, "undos %s", providers[i]);
    add (dump, name, catalog_undos (cat, providers[i]));
    snprintf (name, sizeof name, "releases %s", providers[i]);
    add (dump, name, catalog_releases (cat, providers[i]));
  }
  if (catalog_stats (cat, &stats) == 0)
    add (dump, "stats", json_pack ("{sI sI sI sI sI}",
                                   "committed", (json_int_t) stats.committed,
                                   "failed", (json_int_t) stats.failed,
                                   "unfinished",
                                   (json_int_t) stats.unfinished,
                                   "snapshots", (json_int_t) stats.snapshots,
                                   "pending_deletions",
                                   (json_int_t) stats.pending_deletions));
  else
    add (dump, "stats", NULL);
  return dump;
}

void
workload_assert_same (struct catalog *a, struct catalog *b)
{
  json_t *da = workload_dump (a), *db = workload_dump (b);

  if (!json_equal (da, db)) {
    char *sa = json_dumps (da, JSON_INDENT (1) | JSON_SORT_KEYS);
    char *sb = json_dumps (db, JSON_INDENT (1) | JSON_SORT_KEYS);

    print_error ("first catalog:\n%s\nsecond catalog:\n%s\n", sa, sb);
    free (sa);
    free (sb);
    json_decref (da);
    json_decref (db);
    fail_msg ("the catalogs differ");
  }
  json_decref (da);
  json_decref (db);
}
