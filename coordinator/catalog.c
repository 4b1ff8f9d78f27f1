/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * catalog.c: the SQLite catalog (see catalog.h; the schema is in
 * docs/coordinator.md).
 *
 * Design notes
 *
 * Durability: WAL, with two kinds of commit.  A durable commit runs
 * with synchronous=FULL: the transaction is in the fsync'd log before
 * sqlite3_step returns.  A lazy commit runs with synchronous=NORMAL:
 * the transaction is written to the log (so it survives kill -9 of the
 * coordinator, being in the page cache) but not fsync'd; a power loss
 * may lose it, never corrupt the file, and the next durable commit
 * makes it durable too, the log being sequential.  Durable: what
 * recovery and the requester rely on -- providers, the deletion
 * queue, a set's first record (it exists, with its providers) and its
 * final one (committed or failed, before the requester is answered),
 * recovery itself.  Lazy: what only reports progress -- a set's
 * intermediate phases (lost, the set is found in an earlier unfinished
 * phase and aborted just the same), writers' states and last events,
 * providers' last_seen.  An fsync per writer event made a set with 100
 * writers wait for 400 of them; a commit per writer event, even lazy,
 * still cost 800 commits' log pages and a checkpoint every few sets, so
 * the registry hands over the writers changed in one pass of the event
 * loop together (catalog_writers_save).  Statements run for many rows
 * (snapshots, participants, volumes) are prepared once per commit.
 * Every commit is counted (commit_hook) for the metrics.
 *
 * Every change that spans several rows (a set with its snapshots and
 * participants; recovery) is one transaction.
 *
 * Exclusion: locking_mode=EXCLUSIVE, set before WAL is enabled, keeps
 * the file locked by this process from the first write transaction
 * (taken in catalog_open) until it exits; a second coordinator started
 * on the same catalog gets SQLITE_BUSY and is refused.  It also means
 * no shared-memory wal-index file.
 *
 * Versions: schema_version holds one row.  A catalog of another
 * version is refused with a message, never misread.
 *
 * Replication (the catalog on etcd, catalog-etcd.c): an in-memory
 * catalog (catalog_open_memory, catalog_open_image) may be given a
 * replica function.  Then every write transaction runs as follows:
 *   1. BEGIN IMMEDIATE, and attach an SQLite session to every table;
 *   2. run the transaction's statements (ON DELETE CASCADE deletions
 *      included: the session sees them through the pre-update hook);
 *   3. copy sqlite_sequence into the table sequences (sessions
 *      ignore tables without a primary key, and sets.seq must replay
 *      identically, also after the newest set was removed);
 *   4. take the session's changeset and hand it to the replica with
 *      the transaction's durability (lazy or durable);
 *   5. COMMIT if the replica returned 0; ROLLBACK if it returned -1,
 *      and the call fails with the replica's message and errno.
 * The statements that run alone on a file (catalog_provider_seen,
 * catalog_writer_forget, the queue removals) run in such a transaction
 * too.  A transaction that changes nothing hands nothing over.  With no
 * replica (every file catalog) none of this happens: no session, no
 * cost.
 *
 * A changeset carries rows by primary key, not the hidden rowid, but
 * the queues (pending_deletions, pending_undos, pending_releases) and
 * set_holds are read in rowid order.  An in-memory catalog therefore
 * makes these four tables with an explicit "rowid INTEGER PRIMARY KEY"
 * (the rowid itself) and their key as UNIQUE, so that a replayed
 * changeset gives every row the rowid it had; the statements are the
 * same for both.  catalog_apply replays with foreign keys off (the
 * changeset already holds every cascaded row) and the replayed
 * sequences back into sqlite_sequence, in one transaction; any
 * conflict (a row missing or different) aborts it: the catalogs have
 * diverged.
 */

#include <config.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>   /* SQLITE_ENABLE_SESSION from configure */

#include "catalog.h"
#include "log.h"

struct catalog {
  sqlite3 *db;
  char *path;
  bool lazy;                    /* synchronous=NORMAL is in force */
  uint64_t commits[2];          /* write transactions committed,
                                 * [lazy] (commit_hook) */
  bool opening;                 /* catalog_open reports its own errors */
  bool memory;                  /* in memory: replicable schema */
  catalog_replicate_fn replica; /* NULL: not replicated */
  void *replica_opaque;
  void (*replica_committed) (void *opaque);
  void (*replica_release) (void *opaque);
  sqlite3_session *session;     /* the write transaction's, with a replica */
  char errmsg[512];
};

static const char schema[] =
  "CREATE TABLE schema_version (version INTEGER NOT NULL);\n"
  "CREATE TABLE providers (\n"
  "  name TEXT PRIMARY KEY,\n"
  "  subject TEXT NOT NULL,\n"
  "  nbd_uri TEXT NOT NULL,\n"
  "  version TEXT,\n"
  "  registered INTEGER NOT NULL,\n"
  "  last_seen INTEGER NOT NULL);\n"
  "CREATE TABLE volumes (\n"
  "  provider TEXT NOT NULL REFERENCES providers (name) ON DELETE CASCADE,\n"
  "  name TEXT NOT NULL,\n"
  "  uuid TEXT NOT NULL,\n"
  "  size INTEGER NOT NULL,\n"
  "  PRIMARY KEY (provider, name));\n"
  "CREATE TABLE writers (\n"
  "  name TEXT PRIMARY KEY,\n"
  "  subject TEXT NOT NULL,\n"
  "  volumes TEXT NOT NULL,\n"
  "  freeze_timeout_ms INTEGER NOT NULL,\n"
  "  state TEXT NOT NULL,\n"
  "  last_event TEXT,\n"
  "  last_event_time INTEGER,\n"
  "  last_error TEXT,\n"
  "  registered INTEGER NOT NULL);\n"
  "CREATE TABLE sets (\n"
  "  seq INTEGER PRIMARY KEY AUTOINCREMENT,\n"
  "  set_id TEXT NOT NULL UNIQUE,\n"
  "  label TEXT NOT NULL,\n"
  "  state TEXT NOT NULL,\n"
  "  reason TEXT,\n"
  "  created INTEGER NOT NULL,\n"
  "  finished INTEGER,\n"
  "  freeze_ms INTEGER,\n"
  "  hold_ms INTEGER,\n"
  "  total_ms INTEGER);\n"
  "CREATE TABLE set_snapshots (\n"
  "  set_id TEXT NOT NULL REFERENCES sets (set_id) ON DELETE CASCADE,\n"
  "  ord INTEGER NOT NULL,\n"
  "  provider TEXT NOT NULL,\n"
  "  volume TEXT NOT NULL,\n"
  "  id TEXT NOT NULL,\n"
  "  export TEXT NOT NULL,\n"
  "  uri TEXT NOT NULL,\n"
  "  generation INTEGER NOT NULL,\n"
  "  PRIMARY KEY (set_id, ord));\n"
  "CREATE TABLE participants (\n"
  "  set_id TEXT NOT NULL REFERENCES sets (set_id) ON DELETE CASCADE,\n"
  "  ord INTEGER NOT NULL,\n"
  "  kind TEXT NOT NULL,\n"
  "  name TEXT NOT NULL,\n"
  "  state TEXT NOT NULL,\n"
  "  error TEXT,\n"
  "  PRIMARY KEY (set_id, ord));\n";

/* The rest of a catalog file's first schema. */
static const char file_schema[] =
  "CREATE TABLE pending_deletions (\n"
  "  provider TEXT NOT NULL,\n"
  "  set_id TEXT NOT NULL,\n"
  "  queued INTEGER NOT NULL,\n"
  "  PRIMARY KEY (provider, set_id));\n";

/* The rest of an in-memory catalog's schema: the tables read in rowid
 * order with the rowid as their primary key (the design notes), and
 * the copy of sqlite_sequence that replication carries. */
static const char memory_schema[] =
  "CREATE TABLE pending_deletions (\n"
  "  rowid INTEGER PRIMARY KEY,\n"
  "  provider TEXT NOT NULL,\n"
  "  set_id TEXT NOT NULL,\n"
  "  queued INTEGER NOT NULL,\n"
  "  UNIQUE (provider, set_id));\n"
  "CREATE TABLE set_holds (\n"
  "  rowid INTEGER PRIMARY KEY,\n"
  "  set_id TEXT NOT NULL REFERENCES sets (set_id) ON DELETE CASCADE,\n"
  "  tag TEXT NOT NULL,\n"
  "  expires INTEGER,\n"
  "  UNIQUE (set_id, tag));\n"
  "CREATE TABLE pending_undos (\n"
  "  rowid INTEGER PRIMARY KEY,\n"
  "  provider TEXT NOT NULL,\n"
  "  undo_set_id TEXT NOT NULL,\n"
  "  queued INTEGER NOT NULL,\n"
  "  UNIQUE (provider, undo_set_id));\n"
  "CREATE TABLE pending_releases (\n"
  "  rowid INTEGER PRIMARY KEY,\n"
  "  provider TEXT NOT NULL,\n"
  "  set_id TEXT NOT NULL,\n"
  "  tag TEXT NOT NULL,\n"
  "  queued INTEGER NOT NULL,\n"
  "  UNIQUE (provider, set_id, tag));\n"
  "CREATE TABLE sequences (\n"
  "  name TEXT PRIMARY KEY,\n"
  "  seq INTEGER NOT NULL);\n";

/* Holds taken through the coordinator (set.hold), added to catalogs of
 * this schema version made before there were any: an older
 * coordinator ignores the table. */
static const char holds_table[] =
  "CREATE TABLE IF NOT EXISTS set_holds (\n"
  "  set_id TEXT NOT NULL REFERENCES sets (set_id) ON DELETE CASCADE,\n"
  "  tag TEXT NOT NULL,\n"
  "  expires INTEGER,\n"
  "  PRIMARY KEY (set_id, tag));\n";

/* The undos waiting for a provider (set.revert), added to schema
 * version 1 where missing: a coordinator without set.revert never
 * queues one. */
static const char undo_schema[] =
  "CREATE TABLE IF NOT EXISTS pending_undos (\n"
  "  provider TEXT NOT NULL,\n"
  "  undo_set_id TEXT NOT NULL,\n"
  "  queued INTEGER NOT NULL,\n"
  "  PRIMARY KEY (provider, undo_set_id));\n"
  /* set.release's releases waiting for a provider that was away, added
   * the same way: an older coordinator ignores the table. */
  "CREATE TABLE IF NOT EXISTS pending_releases (\n"
  "  provider TEXT NOT NULL,\n"
  "  set_id TEXT NOT NULL,\n"
  "  tag TEXT NOT NULL,\n"
  "  queued INTEGER NOT NULL,\n"
  "  PRIMARY KEY (provider, set_id, tag));\n";

/* Errors. */

static void sql_failed (struct catalog *cat, const char *what, ...)
  __attribute__((format (printf, 2, 3)));

/* Record and log the SQLite error of the operation WHAT. */
static void
sql_failed (struct catalog *cat, const char *what, ...)
{
  char op[256];
  va_list ap;

  va_start (ap, what);
  vsnprintf (op, sizeof op, what, ap);
  va_end (ap);
  snprintf (cat->errmsg, sizeof cat->errmsg, "catalog %s: %s: %s",
            cat->path, op, sqlite3_errmsg (cat->db));
  if (!cat->opening)
    log_warnx ("%s", cat->errmsg);
}

const char *
catalog_errmsg (struct catalog *cat)
{
  return cat->errmsg[0] ? cat->errmsg : "catalog: unknown error";
}

/* Statements. */

static int
sql_exec (struct catalog *cat, const char *sql)
{
  if (sqlite3_exec (cat->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
    sql_failed (cat, "%.64s", sql);
    return -1;
  }
  return 0;
}

static sqlite3_stmt *
prepare (struct catalog *cat, const char *sql)
{
  sqlite3_stmt *st = NULL;

  if (sqlite3_prepare_v2 (cat->db, sql, -1, &st, NULL) != SQLITE_OK) {
    sql_failed (cat, "prepare %.48s", sql);
    return NULL;
  }
  return st;
}

/* Bind the values in AP to ST's parameters 1, 2, ..., one per
 * character of TYPES: 's' const char * (NULL binds NULL), 'i' int64_t,
 * 'j' json_t * (a string, an integer, or anything else as NULL). */
static int
vbind (struct catalog *cat, sqlite3_stmt *st, const char *types, va_list ap)
{
  int i, r = SQLITE_OK;

  for (i = 0; types[i] != '\0' && r == SQLITE_OK; i++) {
    switch (types[i]) {
    case 's': {
      const char *s = va_arg (ap, const char *);

      r = s ? sqlite3_bind_text (st, i + 1, s, -1, SQLITE_TRANSIENT)
        : sqlite3_bind_null (st, i + 1);
      break;
    }
    case 'i':
      r = sqlite3_bind_int64 (st, i + 1, va_arg (ap, int64_t));
      break;
    case 'j': {
      json_t *v = va_arg (ap, json_t *);

      if (json_is_string (v))
        r = sqlite3_bind_text (st, i + 1, json_string_value (v), -1,
                               SQLITE_TRANSIENT);
      else if (json_is_integer (v))
        r = sqlite3_bind_int64 (st, i + 1, json_integer_value (v));
      else
        r = sqlite3_bind_null (st, i + 1);
      break;
    }
    default:
      r = SQLITE_MISUSE;
    }
  }
  if (r != SQLITE_OK) {
    sql_failed (cat, "bind");
    return -1;
  }
  return 0;
}

static int
bindv (struct catalog *cat, sqlite3_stmt *st, const char *types, ...)
{
  va_list ap;
  int r;

  va_start (ap, types);
  r = vbind (cat, st, types, ap);
  va_end (ap);
  return r;
}

/* Run ST to completion and finalize it. */
static int
step_done (struct catalog *cat, sqlite3_stmt *st, const char *what)
{
  int r = sqlite3_step (st);

  if (r != SQLITE_DONE && r != SQLITE_ROW) {
    sql_failed (cat, "%s", what);
    sqlite3_finalize (st);
    return -1;
  }
  sqlite3_finalize (st);
  return 0;
}

/* Run ST, prepared once for many rows, for the row bound to it, then
 * make it ready for the next.  ST stays the caller's to finalize,
 * also on error. */
static int
step_row (struct catalog *cat, sqlite3_stmt *st, const char *what)
{
  int r = sqlite3_step (st);

  if (r != SQLITE_DONE && r != SQLITE_ROW) {
    sql_failed (cat, "%s", what);
    sqlite3_reset (st);
    return -1;
  }
  sqlite3_reset (st);
  sqlite3_clear_bindings (st);
  return 0;
}

static int
vsql_run (struct catalog *cat, const char *what, const char *sql,
          const char *types, va_list ap)
{
  sqlite3_stmt *st = prepare (cat, sql);

  if (st == NULL)
    return -1;
  if (vbind (cat, st, types, ap) == -1) {
    sqlite3_finalize (st);
    return -1;
  }
  return step_done (cat, st, what);
}

/* Run SQL with the values (see vbind) to completion. */
static int
sql_run (struct catalog *cat, const char *what, const char *sql,
         const char *types, ...)
{
  va_list ap;
  int r;

  va_start (ap, types);
  r = vsql_run (cat, what, sql, types, ap);
  va_end (ap);
  return r;
}

/* Make the next commits durable or lazy (see the design notes).  The
 * setting cannot change inside a transaction: call it before tx_begin. */
static int
set_durability (struct catalog *cat, enum catalog_sync sync)
{
  bool lazy = sync == CATALOG_LAZY;

  if (cat->lazy == lazy)
    return 0;
  if (sql_exec (cat, lazy ? "PRAGMA synchronous = NORMAL"
                          : "PRAGMA synchronous = FULL") == -1)
    return -1;
  cat->lazy = lazy;
  return 0;
}

/* Back to durable commits after a lazy one, keeping the errno of the
 * call that ran lazily. */
static void
durable_again (struct catalog *cat)
{
  int saved = errno;

  set_durability (cat, CATALOG_DURABLE);
  errno = saved;
}

/* Phase 1 of a replicated transaction (the design notes). */
static int
session_start (struct catalog *cat)
{
  if (sqlite3session_create (cat->db, "main", &cat->session) != SQLITE_OK) {
    cat->session = NULL;
    sql_failed (cat, "sqlite3session_create");
    return -1;
  }
  if (sqlite3session_attach (cat->session, NULL) != SQLITE_OK) {
    sql_failed (cat, "sqlite3session_attach");
    sqlite3session_delete (cat->session);
    cat->session = NULL;
    return -1;
  }
  return 0;
}

/* Phases 3 and 4: hand the transaction's changes to the replica.  0 to
 * commit; -1 (errno and errmsg set) to roll back. */
static int
replicate (struct catalog *cat)
{
  char err[sizeof cat->errmsg] = "";
  void *changeset = NULL;
  int n = 0, r, saved;

  if (cat->memory &&
      sql_exec (cat, "INSERT INTO sequences (name, seq) "
                "SELECT name, seq FROM sqlite_sequence WHERE true "
                "ON CONFLICT (name) DO UPDATE SET seq = excluded.seq "
                "WHERE seq <> excluded.seq") == -1) {
    errno = EIO;
    return -1;
  }
  if (sqlite3session_changeset (cat->session, &n, &changeset) != SQLITE_OK) {
    sql_failed (cat, "sqlite3session_changeset");
    errno = EIO;
    return -1;
  }
  if (n == 0) {
    sqlite3_free (changeset);
    return 0;
  }
  errno = 0;
  r = cat->replica (cat->replica_opaque, changeset, (size_t) n,
                    cat->lazy ? CATALOG_LAZY : CATALOG_DURABLE, err,
                    sizeof err);
  saved = errno ? errno : EIO;
  sqlite3_free (changeset);
  if (r == 0)
    return 0;
  snprintf (cat->errmsg, sizeof cat->errmsg, "%s",
            err[0] ? err : "catalog: the replica refused the transaction");
  log_warnx ("%s", cat->errmsg);
  errno = saved;
  return -1;
}

static int
tx_begin (struct catalog *cat)
{
  if (sql_exec (cat, "BEGIN IMMEDIATE") == -1)
    return -1;
  if (cat->replica && session_start (cat) == -1) {
    sqlite3_exec (cat->db, "ROLLBACK", NULL, NULL, NULL);
    errno = EIO;
    return -1;
  }
  return 0;
}

/* Commit, or roll back if OK is -1.  Returns OK, or -1 if the commit
 * failed.  With a replica, the changes go to it first (phase 5). */
static int
tx_end (struct catalog *cat, int ok)
{
  int saved;

  if (ok == 0 && cat->session)
    ok = replicate (cat);
  if (cat->session) {
    sqlite3session_delete (cat->session);
    cat->session = NULL;
  }
  if (ok == 0 && sql_exec (cat, "COMMIT") == 0) {
    if (cat->replica && cat->replica_committed)
      cat->replica_committed (cat->replica_opaque);
    return 0;
  }
  saved = errno;
  sqlite3_exec (cat->db, "ROLLBACK", NULL, NULL, NULL);
  errno = saved;
  return -1;
}

/* One statement that changes the catalog: alone, as ever, on a file;
 * in a transaction handed to the replica when there is one. */
static int
write_run (struct catalog *cat, const char *what, const char *sql,
           const char *types, ...)
{
  va_list ap;
  int r;

  if (cat->replica != NULL && tx_begin (cat) == -1)
    return -1;
  va_start (ap, types);
  r = vsql_run (cat, what, sql, types, ap);
  va_end (ap);
  return cat->replica != NULL ? tx_end (cat, r) : r;
}

/* Columns as JSON values. */

static json_t *
col_json (sqlite3_stmt *st, int i)
{
  switch (sqlite3_column_type (st, i)) {
  case SQLITE_INTEGER:
    return json_integer (sqlite3_column_int64 (st, i));
  case SQLITE_TEXT:
    return json_stringn ((const char *) sqlite3_column_text (st, i),
                         (size_t) sqlite3_column_bytes (st, i));
  default:
    return json_null ();
  }
}

/* Append to OBJ the member NAME with column I of ST.  -1 on ENOMEM. */
static int
add_col (json_t *obj, const char *name, sqlite3_stmt *st, int i)
{
  json_t *v = col_json (st, i);

  /* A text the catalog holds but jansson refuses (not UTF-8: only a
   * hand-edited catalog) is shown as null rather than failing. */
  if (v == NULL)
    v = json_null ();
  return json_object_set_new (obj, name, v);
}

/* An array of objects, one per row of ST, with the members NAMES
 * (NULL-terminated) from the columns 0, 1, ...; ST is finalized. */
static json_t *
rows_json (struct catalog *cat, sqlite3_stmt *st, const char *what,
           const char *const *names)
{
  json_t *array = json_array ();
  int r;

  if (array == NULL) {
    sqlite3_finalize (st);
    return NULL;
  }
  while ((r = sqlite3_step (st)) == SQLITE_ROW) {
    json_t *obj = json_object ();
    int i;

    if (obj == NULL || json_array_append_new (array, obj) == -1)
      goto nomem;
    for (i = 0; names[i] != NULL; i++)
      if (add_col (obj, names[i], st, i) == -1)
        goto nomem;
  }
  if (r != SQLITE_DONE) {
    sql_failed (cat, "%s", what);
    goto err;
  }
  sqlite3_finalize (st);
  return array;

 nomem:
  snprintf (cat->errmsg, sizeof cat->errmsg, "catalog: out of memory");
  log_warnx ("%s", cat->errmsg);
 err:
  sqlite3_finalize (st);
  json_decref (array);
  return NULL;
}

/* Opening. */

static int
add_holds_table (struct catalog *cat, char *err, size_t errlen)
{
  if (tx_begin (cat) == -1 ||
      tx_end (cat, sql_exec (cat, holds_table)) == -1) {
    snprintf (err, errlen, "%s", cat->errmsg);
    return -1;
  }
  return 0;
}

static int
create_or_check_schema (struct catalog *cat, char *err, size_t errlen)
{
  sqlite3_stmt *st;
  int r, version = -1;

  if (tx_begin (cat) == -1) {
    snprintf (err, errlen, "%s", cat->errmsg);
    return -1;
  }
  st = prepare (cat, "SELECT count(*) FROM sqlite_master "
                "WHERE type = 'table' AND name = 'schema_version'");
  if (st == NULL)
    goto fail;
  r = sqlite3_step (st);
  if (r == SQLITE_ROW && sqlite3_column_int (st, 0) == 0) {
    sqlite3_finalize (st);
    if (sql_exec (cat, schema) == -1 ||
        sql_exec (cat, cat->memory ? memory_schema : file_schema) == -1 ||
        sql_exec (cat, holds_table) == -1 ||
        sql_run (cat, "insert schema version",
                 "INSERT INTO schema_version (version) VALUES (?)", "i",
                 (int64_t) CATALOG_SCHEMA_VERSION) == -1)
      goto fail;
    if (tx_end (cat, 0) == -1) {
      snprintf (err, errlen, "%s", cat->errmsg);
      return -1;
    }
    return 0;
  }
  sqlite3_finalize (st);
  if (r != SQLITE_ROW) {
    sql_failed (cat, "read the schema");
    goto fail;
  }

  st = prepare (cat, "SELECT version FROM schema_version");
  if (st == NULL)
    goto fail;
  if (sqlite3_step (st) == SQLITE_ROW)
    version = sqlite3_column_int (st, 0);
  sqlite3_finalize (st);
  tx_end (cat, 0);
  if (version != CATALOG_SCHEMA_VERSION) {
    snprintf (err, errlen, "catalog %s has schema version %d; this "
              "coordinator reads version %d only", cat->path, version,
              CATALOG_SCHEMA_VERSION);
    return -1;
  }
  return add_holds_table (cat, err, errlen);

 fail:
  snprintf (err, errlen, "%s", cat->errmsg);
  tx_end (cat, -1);
  return -1;
}

/* Count each write transaction as it commits, by the durability in
 * force (sqlite3_commit_hook: also the statements outside BEGIN). */
static int
commit_hook (void *arg)
{
  struct catalog *cat = arg;

  cat->commits[cat->lazy]++;
  return 0;
}

struct catalog *
catalog_open (const char *path, char *err, size_t errlen)
{
  struct catalog *cat = calloc (1, sizeof *cat);
  sqlite3_stmt *st;
  const char *mode;
  int r;

  if (errlen > 0)
    err[0] = '\0';
  if (cat == NULL || (cat->path = strdup (path)) == NULL) {
    snprintf (err, errlen, "catalog %s: %m", path);
    free (cat);
    return NULL;
  }
  cat->opening = true;
  r = sqlite3_open_v2 (path, &cat->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  if (r != SQLITE_OK) {
    snprintf (err, errlen, "catalog %s: %s", path,
              cat->db ? sqlite3_errmsg (cat->db) : sqlite3_errstr (r));
    goto err;
  }
  sqlite3_extended_result_codes (cat->db, 1);
  sqlite3_commit_hook (cat->db, commit_hook, cat);
  if (sql_exec (cat, "PRAGMA locking_mode = EXCLUSIVE") == -1)
    goto err_msg;

  /* journal_mode answers with the mode in force: a file that is not a
   * database, or one another process holds, fails here. */
  st = prepare (cat, "PRAGMA journal_mode = WAL");
  if (st == NULL)
    goto err_msg;
  r = sqlite3_step (st);
  mode = r == SQLITE_ROW ? (const char *) sqlite3_column_text (st, 0) : NULL;
  if (r != SQLITE_ROW)
    sql_failed (cat, "PRAGMA journal_mode");
  sqlite3_finalize (st);
  if (r != SQLITE_ROW)
    goto err_msg;
  if (mode == NULL || strcmp (mode, "wal") != 0) {
    snprintf (err, errlen, "catalog %s: cannot use write-ahead logging",
              path);
    goto err;
  }
  if (sql_exec (cat, "PRAGMA synchronous = FULL") == -1 ||
      sql_exec (cat, "PRAGMA foreign_keys = ON") == -1 ||
      create_or_check_schema (cat, err, errlen) == -1 ||
      sql_exec (cat, undo_schema) == -1)
    goto err_msg;
  cat->opening = false;
  return cat;

 err_msg:
  if ((sqlite3_errcode (cat->db) & 0xff) == SQLITE_BUSY ||
      (sqlite3_errcode (cat->db) & 0xff) == SQLITE_LOCKED)
    snprintf (err, errlen, "catalog %s is in use by another process "
              "(another coordinator?)", path);
  else if (err[0] == '\0')
    snprintf (err, errlen, "%s", cat->errmsg);
 err:
  catalog_close (cat);
  return NULL;
}

void
catalog_close (struct catalog *cat)
{
  if (cat == NULL)
    return;
  if (cat->session)
    sqlite3session_delete (cat->session);
  catalog_set_replica (cat, NULL, NULL);
  if (cat->db)
    sqlite3_close (cat->db);
  free (cat->path);
  free (cat);
}

/* Replication (the design notes). */

/* An in-memory database for a replicable catalog, empty or holding
 * IMAGE (LEN bytes, copied). */
static struct catalog *
memory_new (const void *image, size_t len, char *err, size_t errlen)
{
  struct catalog *cat = calloc (1, sizeof *cat);
  unsigned char *copy;
  int r;

  if (errlen > 0)
    err[0] = '\0';
  if (cat == NULL || (cat->path = strdup ("(memory)")) == NULL) {
    snprintf (err, errlen, "catalog in memory: %m");
    free (cat);
    return NULL;
  }
  cat->memory = true;
  cat->opening = true;
  r = sqlite3_open_v2 (":memory:", &cat->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  if (r != SQLITE_OK) {
    snprintf (err, errlen, "catalog in memory: %s",
              cat->db ? sqlite3_errmsg (cat->db) : sqlite3_errstr (r));
    goto err;
  }
  sqlite3_extended_result_codes (cat->db, 1);
  sqlite3_commit_hook (cat->db, commit_hook, cat);
  if (image != NULL) {
    copy = sqlite3_malloc64 (len > 0 ? len : 1);
    if (copy == NULL) {
      snprintf (err, errlen, "catalog image: out of memory");
      goto err;
    }
    memcpy (copy, image, len);
    r = sqlite3_deserialize (cat->db, "main", copy, (sqlite3_int64) len,
                             (sqlite3_int64) len,
                             SQLITE_DESERIALIZE_FREEONCLOSE |
                             SQLITE_DESERIALIZE_RESIZEABLE);
    if (r != SQLITE_OK) {
      snprintf (err, errlen, "catalog image: %s", sqlite3_errstr (r));
      goto err;
    }
  }
  return cat;

 err:
  catalog_close (cat);
  return NULL;
}

/* Is CAT's image whole and a replicable catalog's?  An image is bytes
 * from etcd: checked before anything reads it. */
static int
check_image (struct catalog *cat, char *err, size_t errlen)
{
  sqlite3_stmt *st = prepare (cat, "PRAGMA quick_check");
  const char *v;
  int r, tables = 0;

  if (st == NULL) {
    snprintf (err, errlen, "catalog image: not a whole SQLite database: %s",
              sqlite3_errmsg (cat->db));
    return -1;
  }
  r = sqlite3_step (st);
  v = r == SQLITE_ROW ? (const char *) sqlite3_column_text (st, 0) : NULL;
  if (v == NULL || strcmp (v, "ok") != 0) {
    snprintf (err, errlen, "catalog image: not a whole SQLite database: %s",
              v ? v : sqlite3_errmsg (cat->db));
    sqlite3_finalize (st);
    return -1;
  }
  sqlite3_finalize (st);
  st = prepare (cat, "SELECT count(*) FROM sqlite_master WHERE type = "
                "'table' AND name IN ('sequences', 'schema_version')");
  if (st != NULL && sqlite3_step (st) == SQLITE_ROW)
    tables = sqlite3_column_int (st, 0);
  sqlite3_finalize (st);
  if (tables != 2) {
    snprintf (err, errlen, "catalog image: not the image of a replicated "
              "catalog");
    return -1;
  }
  return 0;
}

static struct catalog *
memory_open (const void *image, size_t len, char *err, size_t errlen)
{
  struct catalog *cat = memory_new (image, len, err, errlen);

  if (cat == NULL)
    return NULL;
  if ((image != NULL && check_image (cat, err, errlen) == -1) ||
      sql_exec (cat, "PRAGMA foreign_keys = ON") == -1 ||
      create_or_check_schema (cat, err, errlen) == -1 ||
      sql_exec (cat, undo_schema) == -1) {
    if (err[0] == '\0')
      snprintf (err, errlen, "%s", cat->errmsg);
    catalog_close (cat);
    errno = EINVAL;
    return NULL;
  }
  cat->opening = false;
  return cat;
}

struct catalog *
catalog_open_memory (char *err, size_t errlen)
{
  return memory_open (NULL, 0, err, errlen);
}

struct catalog *
catalog_open_image (const void *image, size_t len, char *err, size_t errlen)
{
  return memory_open (image, len, err, errlen);
}

void
catalog_set_replica (struct catalog *cat, catalog_replicate_fn fn,
                     void *opaque)
{
  if (cat->replica_release)
    cat->replica_release (cat->replica_opaque);
  cat->replica = fn;
  cat->replica_opaque = opaque;
  cat->replica_committed = NULL;
  cat->replica_release = NULL;
}

void
catalog_set_replica_hooks (struct catalog *cat,
                           void (*committed) (void *opaque),
                           void (*release) (void *opaque))
{
  cat->replica_committed = committed;
  cat->replica_release = release;
}

int
catalog_image (struct catalog *cat, void **image, size_t *len)
{
  sqlite3_int64 size = 0;
  unsigned char *data = sqlite3_serialize (cat->db, "main", &size, 0);

  *image = NULL;
  *len = 0;
  if (data == NULL) {
    snprintf (cat->errmsg, sizeof cat->errmsg, "catalog %s: "
              "sqlite3_serialize: out of memory", cat->path);
    log_warnx ("%s", cat->errmsg);
    errno = ENOMEM;
    return -1;
  }
  *image = malloc ((size_t) size);
  if (*image == NULL) {
    sqlite3_free (data);
    snprintf (cat->errmsg, sizeof cat->errmsg, "catalog %s: image: %m",
              cat->path);
    errno = ENOMEM;
    return -1;
  }
  memcpy (*image, data, (size_t) size);
  *len = (size_t) size;
  sqlite3_free (data);
  return 0;
}

struct apply_ctx {
  struct catalog *cat;
  char conflict[160];
};

/* Any conflict means the catalogs differ: name it and stop. */
static int
apply_conflict (void *arg, int kind, sqlite3_changeset_iter *it)
{
  static const char *const kinds[] = {
    [SQLITE_CHANGESET_DATA] = "a row differs",
    [SQLITE_CHANGESET_NOTFOUND] = "a row is missing",
    [SQLITE_CHANGESET_CONFLICT] = "a row exists already",
    [SQLITE_CHANGESET_CONSTRAINT] = "a constraint fails",
    [SQLITE_CHANGESET_FOREIGN_KEY] = "a foreign key fails",
  };
  struct apply_ctx *ctx = arg;
  const char *table = "?";
  int ncols, op, indirect;

  if (sqlite3changeset_op (it, &table, &ncols, &op, &indirect) != SQLITE_OK)
    table = "?";
  if (ctx->conflict[0] == '\0')
    snprintf (ctx->conflict, sizeof ctx->conflict, "%s in table %s",
              kind >= 0 && kind <= SQLITE_CHANGESET_FOREIGN_KEY &&
              kinds[kind] ? kinds[kind] : "a conflict", table);
  return SQLITE_CHANGESET_ABORT;
}

int
catalog_apply (struct catalog *cat, const void *changeset, size_t len)
{
  struct apply_ctx ctx = { .cat = cat };
  int r;

  if (!cat->memory || len > INT_MAX) {
    snprintf (cat->errmsg, sizeof cat->errmsg, "catalog %s: apply: %s",
              cat->path, cat->memory ? "changeset too large"
              : "not a replicated catalog");
    log_warnx ("%s", cat->errmsg);
    errno = EINVAL;
    return -1;
  }
  /* The changeset holds the rows a cascade deleted: foreign keys off,
   * which SQLite allows only outside a transaction. */
  if (sql_exec (cat, "PRAGMA foreign_keys = OFF") == -1) {
    errno = EIO;
    return -1;
  }
  if (sql_exec (cat, "BEGIN IMMEDIATE") == -1) {
    sql_exec (cat, "PRAGMA foreign_keys = ON");
    errno = EIO;
    return -1;
  }
  r = sqlite3changeset_apply (cat->db, (int) len, (void *) changeset, NULL,
                              apply_conflict, &ctx);
  if (r != SQLITE_OK) {
    if (ctx.conflict[0] != '\0')
      snprintf (cat->errmsg, sizeof cat->errmsg, "catalog %s: apply a "
                "changeset: %s: the catalogs differ", cat->path,
                ctx.conflict);
    else
      snprintf (cat->errmsg, sizeof cat->errmsg, "catalog %s: apply a "
                "changeset: %s", cat->path, sqlite3_errstr (r));
    log_warnx ("%s", cat->errmsg);
    sqlite3_exec (cat->db, "ROLLBACK", NULL, NULL, NULL);
    sql_exec (cat, "PRAGMA foreign_keys = ON");
    errno = EILSEQ;
    return -1;
  }
  if (sql_exec (cat, "DELETE FROM sqlite_sequence") == -1 ||
      sql_exec (cat, "INSERT INTO sqlite_sequence (name, seq) "
                "SELECT name, seq FROM sequences") == -1 ||
      sql_exec (cat, "COMMIT") == -1) {
    sqlite3_exec (cat->db, "ROLLBACK", NULL, NULL, NULL);
    sql_exec (cat, "PRAGMA foreign_keys = ON");
    errno = EIO;
    return -1;
  }
  if (sql_exec (cat, "PRAGMA foreign_keys = ON") == -1) {
    errno = EIO;
    return -1;
  }
  return 0;
}

/* Providers. */

int
catalog_provider_save (struct catalog *cat, const char *name,
                       const char *subject, const char *nbd_uri,
                       const char *version, int64_t registered,
                       int64_t last_seen, json_t *volumes)
{
  sqlite3_stmt *st;
  size_t i;
  json_t *v;

  if (tx_begin (cat) == -1)
    return -1;
  if (sql_run (cat, "save provider",
               "INSERT INTO providers "
               "(name, subject, nbd_uri, version, registered, last_seen) "
               "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
               "subject = excluded.subject, nbd_uri = excluded.nbd_uri, "
               "version = excluded.version, registered = excluded.registered, "
               "last_seen = excluded.last_seen",
               "ssssii", name, subject, nbd_uri, version, registered,
               last_seen) == -1 ||
      sql_run (cat, "delete volumes", "DELETE FROM volumes WHERE provider = ?",
               "s", name) == -1)
    return tx_end (cat, -1);
  st = prepare (cat, "INSERT INTO volumes (provider, name, uuid, size) "
                "VALUES (?, ?, ?, ?)");
  if (st == NULL)
    return tx_end (cat, -1);
  json_array_foreach (volumes, i, v)
    if (bindv (cat, st, "sjjj", name, json_object_get (v, "name"),
               json_object_get (v, "uuid"), json_object_get (v, "size"))
        == -1 || step_row (cat, st, "save volume") == -1) {
      sqlite3_finalize (st);
      return tx_end (cat, -1);
    }
  sqlite3_finalize (st);
  return tx_end (cat, 0);
}

int
catalog_provider_seen (struct catalog *cat, const char *name,
                       int64_t last_seen)
{
  int r;

  if (set_durability (cat, CATALOG_LAZY) == -1)
    return -1;
  r = write_run (cat, "update provider",
               "UPDATE providers SET last_seen = ? WHERE name = ?", "is",
               last_seen, name);
  durable_again (cat);
  return r;
}

json_t *
catalog_provider_forget (struct catalog *cat, const char *name)
{
  json_t *dropped;

  if (tx_begin (cat) == -1)
    return NULL;
  dropped = catalog_deletions (cat, name);
  if (tx_end (cat, dropped == NULL ||
              sql_run (cat, "forget provider's deletions",
                       "DELETE FROM pending_deletions WHERE provider = ?",
                       "s", name) == -1 ||
              sql_run (cat, "forget provider's undos",
                       "DELETE FROM pending_undos WHERE provider = ?",
                       "s", name) == -1 ||
              sql_run (cat, "forget provider's releases",
                       "DELETE FROM pending_releases WHERE provider = ?",
                       "s", name) == -1 ||
              sql_run (cat, "forget provider", "DELETE FROM providers "
                       "WHERE name = ?", "s", name) == -1 ? -1 : 0) == -1) {
    json_decref (dropped);
    return NULL;
  }
  return dropped;
}

json_t *
catalog_providers (struct catalog *cat)
{
  static const char *const pnames[] = {
    "name", "subject", "nbd_uri", "version", "registered", "last_seen", NULL
  };
  static const char *const vnames[] = { "name", "uuid", "size", NULL };
  json_t *providers, *p;
  sqlite3_stmt *st;
  size_t i;

  st = prepare (cat, "SELECT name, subject, nbd_uri, version, registered, "
                "last_seen FROM providers ORDER BY name");
  if (st == NULL)
    return NULL;
  providers = rows_json (cat, st, "list providers", pnames);
  if (providers == NULL)
    return NULL;
  json_array_foreach (providers, i, p) {
    json_t *volumes;

    st = prepare (cat, "SELECT name, uuid, size FROM volumes "
                  "WHERE provider = ? ORDER BY name");
    if (st == NULL ||
        bindv (cat, st, "j", json_object_get (p, "name")) == -1) {
      if (st)
        sqlite3_finalize (st);
      json_decref (providers);
      return NULL;
    }
    volumes = rows_json (cat, st, "list volumes", vnames);
    if (volumes == NULL || json_object_set_new (p, "volumes", volumes) == -1) {
      json_decref (providers);
      return NULL;
    }
  }
  return providers;
}

/* Writers. */

/* Bind writer W (catalog_writers_save) to ST and run it. */
static int
save_writer_row (struct catalog *cat, sqlite3_stmt *st, json_t *w)
{
  char *volumes = json_dumps (json_object_get (w, "volumes"),
                              JSON_COMPACT | JSON_ENCODE_ANY);
  int r = -1;

  if (volumes == NULL) {
    snprintf (cat->errmsg, sizeof cat->errmsg, "catalog: out of memory");
    log_warnx ("%s", cat->errmsg);
    return -1;
  }
  if (bindv (cat, st, "jjsjjjjjj", json_object_get (w, "name"),
             json_object_get (w, "subject"), volumes,
             json_object_get (w, "freeze_timeout_ms"),
             json_object_get (w, "state"), json_object_get (w, "last_event"),
             json_object_get (w, "last_event_time"),
             json_object_get (w, "last_error"),
             json_object_get (w, "registered")) == 0)
    r = step_row (cat, st, "save writer");
  free (volumes);
  return r;
}

int
catalog_writers_save (struct catalog *cat, json_t *writers)
{
  sqlite3_stmt *st;
  json_t *w;
  size_t i;
  int r = 0;

  if (json_array_size (writers) == 0)
    return 0;
  if (set_durability (cat, CATALOG_LAZY) == -1)
    return -1;
  if (tx_begin (cat) == -1) {
    durable_again (cat);
    return -1;
  }
  st = prepare (cat, "INSERT OR REPLACE INTO writers (name, subject, "
                "volumes, freeze_timeout_ms, state, last_event, "
                "last_event_time, last_error, registered) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (st == NULL)
    r = -1;
  json_array_foreach (writers, i, w)
    if (r == 0)
      r = save_writer_row (cat, st, w);
  sqlite3_finalize (st);
  r = tx_end (cat, r);
  durable_again (cat);
  return r;
}

int
catalog_writer_forget (struct catalog *cat, const char *name)
{
  return write_run (cat, "forget writer", "DELETE FROM writers WHERE name = ?",
                  "s", name);
}

json_t *
catalog_writers (struct catalog *cat)
{
  static const char *const names[] = {
    "name", "subject", "volumes", "freeze_timeout_ms", "state", "last_event",
    "last_event_time", "last_error", "registered", NULL
  };
  json_t *writers, *w;
  sqlite3_stmt *st;
  size_t i;

  st = prepare (cat, "SELECT name, subject, volumes, freeze_timeout_ms, "
                "state, last_event, last_event_time, last_error, registered "
                "FROM writers ORDER BY name");
  if (st == NULL)
    return NULL;
  writers = rows_json (cat, st, "list writers", names);
  if (writers == NULL)
    return NULL;
  /* The volumes column holds a JSON array. */
  json_array_foreach (writers, i, w) {
    const char *text = json_string_value (json_object_get (w, "volumes"));
    json_t *volumes = text ? json_loads (text, 0, NULL) : NULL;

    if (!json_is_array (volumes)) {
      json_decref (volumes);
      volumes = json_array ();
    }
    if (volumes == NULL || json_object_set_new (w, "volumes", volumes) == -1) {
      json_decref (writers);
      return NULL;
    }
  }
  return writers;
}

/* Sets. */

/* Replace the snapshot rows of SET_ID with SNAPSHOTS. */
static int
save_snapshot_rows (struct catalog *cat, const char *set_id,
                    json_t *snapshots)
{
  sqlite3_stmt *st;
  json_t *v;
  size_t i;

  if (sql_run (cat, "save set", "DELETE FROM set_snapshots WHERE set_id = ?",
               "s", set_id) == -1)
    return -1;
  st = prepare (cat, "INSERT INTO set_snapshots (set_id, ord, provider, "
                "volume, id, export, uri, generation) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  if (st == NULL)
    return -1;
  json_array_foreach (snapshots, i, v)
    if (bindv (cat, st, "sijjjjjj", set_id, (int64_t) i,
               json_object_get (v, "provider"),
               json_object_get (v, "volume"), json_object_get (v, "id"),
               json_object_get (v, "export"), json_object_get (v, "uri"),
               json_object_get (v, "generation")) == -1 ||
        step_row (cat, st, "save snapshot") == -1) {
      sqlite3_finalize (st);
      return -1;
    }
  sqlite3_finalize (st);
  return 0;
}

/* Record SET under SET_ID: its row, its participants and, unless
 * KEEP_SNAPSHOTS, its snapshots, each replacing what was recorded. */
static int
save_set_rows (struct catalog *cat, const char *set_id, json_t *set,
               bool keep_snapshots)
{
  json_t *timings = json_object_get (set, "timings");
  json_t *snapshots = json_object_get (set, "snapshots");
  json_t *participants = json_object_get (set, "participants");
  sqlite3_stmt *st;
  json_t *v;
  size_t i;

  if (!json_is_object (timings))
    timings = NULL;
  st = prepare (cat, "INSERT INTO sets (set_id, label, state, reason, "
                "created, finished, freeze_ms, hold_ms, total_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (set_id) DO UPDATE SET label = excluded.label, "
                "state = excluded.state, reason = excluded.reason, "
                "created = excluded.created, finished = excluded.finished, "
                "freeze_ms = excluded.freeze_ms, hold_ms = excluded.hold_ms, "
                "total_ms = excluded.total_ms");
  if (st == NULL)
    return -1;
  if (bindv (cat, st, "sjjjjjjjj", set_id, json_object_get (set, "label"),
             json_object_get (set, "state"), json_object_get (set, "reason"),
             json_object_get (set, "created"),
             json_object_get (set, "finished"),
             json_object_get (timings, "freeze_ms"),
             json_object_get (timings, "hold_ms"),
             json_object_get (timings, "total_ms")) == -1) {
    sqlite3_finalize (st);
    return -1;
  }
  if (step_done (cat, st, "save set") == -1 ||
      sql_run (cat, "save set", "DELETE FROM participants WHERE set_id = ?",
               "s", set_id) == -1 ||
      (!keep_snapshots && save_snapshot_rows (cat, set_id, snapshots) == -1))
    return -1;
  st = prepare (cat, "INSERT INTO participants (set_id, ord, kind, name, "
                "state, error) VALUES (?, ?, ?, ?, ?, ?)");
  if (st == NULL)
    return -1;
  json_array_foreach (participants, i, v)
    if (bindv (cat, st, "sijjjj", set_id, (int64_t) i,
               json_object_get (v, "kind"), json_object_get (v, "name"),
               json_object_get (v, "state"), json_object_get (v, "error"))
        == -1 || step_row (cat, st, "save participant") == -1) {
      sqlite3_finalize (st);
      return -1;
    }
  sqlite3_finalize (st);
  return 0;
}

static int
set_save (struct catalog *cat, json_t *set, enum catalog_sync sync,
          bool keep_snapshots)
{
  const char *set_id = json_string_value (json_object_get (set, "set_id"));
  int r;

  if (set_id == NULL) {
    snprintf (cat->errmsg, sizeof cat->errmsg, "catalog: a set without id");
    errno = EINVAL;
    return -1;
  }
  if (set_durability (cat, sync) == -1)
    return -1;
  if (tx_begin (cat) == -1)
    r = -1;
  else
    r = tx_end (cat, save_set_rows (cat, set_id, set, keep_snapshots));
  durable_again (cat);
  return r;
}

int
catalog_set_save (struct catalog *cat, json_t *set, enum catalog_sync sync)
{
  return set_save (cat, set, sync, false);
}

int
catalog_set_save_state (struct catalog *cat, json_t *set,
                        enum catalog_sync sync)
{
  return set_save (cat, set, sync, true);
}

/* Rows of SQL (one '?' bound to SET_ID) as objects with NAMES. */
static json_t *
set_rows_json (struct catalog *cat, const char *sql, const char *set_id,
               const char *const *names)
{
  sqlite3_stmt *st = prepare (cat, sql);

  if (st == NULL)
    return NULL;
  if (bindv (cat, st, "s", set_id) == -1) {
    sqlite3_finalize (st);
    return NULL;
  }
  return rows_json (cat, st, "read set", names);
}

#define SET_COLUMNS \
  "set_id, label, state, reason, created, finished, freeze_ms, hold_ms, " \
  "total_ms"

/* The set object of the current row of ST (SET_COLUMNS). */
static json_t *
set_object (struct catalog *cat, sqlite3_stmt *st, bool full)
{
  static const char *const snapshot_names[] = {
    "provider", "volume", "id", "export", "uri", "generation", NULL
  };
  static const char *const participant_names[] = {
    "kind", "name", "state", "error", NULL
  };
  static const char *const hold_names[] = { "tag", "expires", NULL };
  const char *set_id = (const char *) sqlite3_column_text (st, 0);
  json_t *set = json_object (), *snapshots, *participants, *timings, *holds;

  if (set == NULL || set_id == NULL ||
      add_col (set, "set_id", st, 0) == -1 ||
      add_col (set, "label", st, 1) == -1 ||
      add_col (set, "state", st, 2) == -1 ||
      (sqlite3_column_type (st, 3) != SQLITE_NULL &&
       add_col (set, "reason", st, 3) == -1) ||
      add_col (set, "created", st, 4) == -1 ||
      add_col (set, "finished", st, 5) == -1)
    goto err;

  snapshots = set_rows_json (cat, "SELECT provider, volume, id, export, uri, "
                             "generation FROM set_snapshots WHERE set_id = ? "
                             "ORDER BY ord", set_id, snapshot_names);
  if (snapshots == NULL ||
      json_object_set_new (set, "snapshots", snapshots) == -1)
    goto err;
  holds = set_rows_json (cat, "SELECT tag, expires FROM set_holds WHERE "
                         "set_id = ? ORDER BY rowid", set_id, hold_names);
  /* Only a held set has the member: an unheld set's object is as it
   * was before holds were recorded. */
  if (holds == NULL)
    goto err;
  if (json_array_size (holds) == 0)
    json_decref (holds);
  else if (json_object_set_new (set, "holds", holds) == -1)
    goto err;
  if (!full)
    return set;

  participants = set_rows_json (cat, "SELECT kind, name, state, error "
                                "FROM participants WHERE set_id = ? "
                                "ORDER BY ord", set_id, participant_names);
  if (participants == NULL ||
      json_object_set_new (set, "participants", participants) == -1)
    goto err;
  if (sqlite3_column_type (st, 6) == SQLITE_NULL)
    timings = json_null ();
  else {
    timings = json_object ();
    if (timings != NULL &&
        (add_col (timings, "freeze_ms", st, 6) == -1 ||
         add_col (timings, "hold_ms", st, 7) == -1 ||
         add_col (timings, "total_ms", st, 8) == -1)) {
      json_decref (timings);
      timings = NULL;
    }
  }
  if (timings == NULL || json_object_set_new (set, "timings", timings) == -1)
    goto err;
  return set;

 err:
  json_decref (set);
  return NULL;
}

json_t *
catalog_set_get (struct catalog *cat, const char *set_id, bool full)
{
  sqlite3_stmt *st = prepare (cat, "SELECT " SET_COLUMNS " FROM sets "
                              "WHERE set_id = ?");
  json_t *set = NULL;
  int r;

  if (st == NULL) {
    errno = EIO;
    return NULL;
  }
  if (bindv (cat, st, "s", set_id) == -1) {
    sqlite3_finalize (st);
    errno = EIO;
    return NULL;
  }
  r = sqlite3_step (st);
  if (r == SQLITE_ROW) {
    set = set_object (cat, st, full);
    errno = EIO;
  }
  else if (r == SQLITE_DONE)
    errno = ENOENT;
  else {
    sql_failed (cat, "read set %s", set_id);
    errno = EIO;
  }
  sqlite3_finalize (st);
  return set;
}

int
catalog_set_seq (struct catalog *cat, const char *set_id, int64_t *seq)
{
  sqlite3_stmt *st = prepare (cat, "SELECT seq FROM sets WHERE set_id = ?");
  int r;

  if (st == NULL || bindv (cat, st, "s", set_id) == -1) {
    if (st)
      sqlite3_finalize (st);
    errno = EIO;
    return -1;
  }
  r = sqlite3_step (st);
  if (r == SQLITE_ROW)
    *seq = sqlite3_column_int64 (st, 0);
  else if (r == SQLITE_DONE)
    errno = ENOENT;
  else {
    sql_failed (cat, "read set %s", set_id);
    errno = EIO;
  }
  sqlite3_finalize (st);
  return r == SQLITE_ROW ? 0 : -1;
}

int
catalog_stats (struct catalog *cat, struct catalog_stats *stats)
{
  static const char sql[] =
    "SELECT (SELECT count(*) FROM sets WHERE state = 'committed'),"
    " (SELECT count(*) FROM sets WHERE state = 'failed'),"
    " (SELECT count(*) FROM sets WHERE state NOT IN ('committed', 'failed')),"
    " (SELECT count(*) FROM set_snapshots),"
    " (SELECT count(*) FROM pending_deletions),"
    " (SELECT page_count * page_size FROM pragma_page_count (),"
    "  pragma_page_size ())";
  sqlite3_stmt *st = prepare (cat, sql);
  int r;

  if (st == NULL)
    return -1;
  r = sqlite3_step (st);
  if (r == SQLITE_ROW) {
    stats->committed = sqlite3_column_int64 (st, 0);
    stats->failed = sqlite3_column_int64 (st, 1);
    stats->unfinished = sqlite3_column_int64 (st, 2);
    stats->snapshots = sqlite3_column_int64 (st, 3);
    stats->pending_deletions = sqlite3_column_int64 (st, 4);
    stats->bytes = sqlite3_column_int64 (st, 5);
  }
  else
    sql_failed (cat, "count the sets");
  sqlite3_finalize (st);
  return r == SQLITE_ROW ? 0 : -1;
}

void
catalog_commits (const struct catalog *cat, uint64_t *durable,
                 uint64_t *lazy)
{
  *durable = cat->commits[0];
  *lazy = cat->commits[1];
}

json_t *
catalog_set_list (struct catalog *cat, const char *state)
{
  sqlite3_stmt *st;
  json_t *list = json_array ();
  int r;

  if (list == NULL)
    return NULL;
  st = prepare (cat, "SELECT " SET_COLUMNS " FROM sets "
                "WHERE ?1 IS NULL OR state = ?1 ORDER BY seq DESC");
  if (st == NULL || bindv (cat, st, "s", state) == -1)
    goto err;
  while ((r = sqlite3_step (st)) == SQLITE_ROW) {
    json_t *set = set_object (cat, st, false);

    if (set == NULL || json_array_append_new (list, set) == -1)
      goto err;
  }
  if (r != SQLITE_DONE) {
    sql_failed (cat, "list sets");
    goto err;
  }
  sqlite3_finalize (st);
  return list;

 err:
  if (st)
    sqlite3_finalize (st);
  json_decref (list);
  return NULL;
}

/* Rows of SQL (one '?' bound to LIMIT) as objects with NAMES. */
static json_t *
limited_rows_json (struct catalog *cat, const char *what, const char *sql,
                   int64_t limit, const char *const *names)
{
  sqlite3_stmt *st = prepare (cat, sql);

  if (st == NULL)
    return NULL;
  if (bindv (cat, st, "i", limit) == -1) {
    sqlite3_finalize (st);
    return NULL;
  }
  return rows_json (cat, st, what, names);
}

json_t *
catalog_set_summaries (struct catalog *cat, int64_t limit)
{
  static const char *const names[] = {
    "set_id", "label", "state", "reason", "created", "finished",
    "duration_ms", "snapshots", NULL
  };

  return limited_rows_json (cat, "list the newest sets",
                            "SELECT set_id, label, state, reason, created, "
                            "finished, total_ms, (SELECT count(*) FROM "
                            "set_snapshots s WHERE s.set_id = sets.set_id) "
                            "FROM sets ORDER BY seq DESC LIMIT ?",
                            limit, names);
}

json_t *
catalog_queued (struct catalog *cat, int64_t limit)
{
  static const char *const names[] = {
    "kind", "provider", "set_id", "tag", "queued", NULL
  };

  return limited_rows_json (cat, "list the queued calls",
                            "SELECT 'deletion', provider, set_id, NULL, "
                            "queued FROM pending_deletions "
                            "UNION ALL SELECT 'release', provider, set_id, "
                            "tag, queued FROM pending_releases "
                            "UNION ALL SELECT 'undo', provider, undo_set_id, "
                            "NULL, queued FROM pending_undos "
                            "ORDER BY 5, 2, 1, 3, 4 LIMIT ?",
                            limit, names);
}

json_t *
catalog_set_providers (struct catalog *cat, const char *set_id)
{
  static const char *const names[] = { "name", NULL };
  json_t *objs, *names_array, *v;
  size_t i;

  objs = set_rows_json (cat, "SELECT name FROM participants WHERE set_id = ? "
                        "AND kind = 'provider' ORDER BY ord", set_id, names);
  if (objs == NULL)
    return NULL;
  names_array = json_array ();
  json_array_foreach (objs, i, v)
    if (names_array == NULL ||
        json_array_append (names_array, json_object_get (v, "name")) == -1) {
      json_decref (names_array);
      names_array = NULL;
      break;
    }
  json_decref (objs);
  return names_array;
}

int
catalog_set_hold (struct catalog *cat, const char *set_id, const char *tag,
                  int64_t expires)
{
  if (tx_begin (cat) == -1)
    return -1;
  return tx_end (cat, expires > 0
                 ? sql_run (cat, "record a hold", "INSERT OR REPLACE INTO "
                            "set_holds (set_id, tag, expires) VALUES "
                            "(?, ?, ?)", "ssi", set_id, tag, expires)
                 : sql_run (cat, "record a hold", "INSERT OR REPLACE INTO "
                            "set_holds (set_id, tag, expires) VALUES "
                            "(?, ?, NULL)", "ss", set_id, tag));
}

int
catalog_set_release (struct catalog *cat, const char *set_id,
                     const char *tag)
{
  if (tx_begin (cat) == -1)
    return -1;
  return tx_end (cat, sql_run (cat, "record a release", "DELETE FROM "
                               "set_holds WHERE set_id = ? AND tag = ?",
                               "ss", set_id, tag));
}

int
catalog_set_remove (struct catalog *cat, const char *set_id)
{
  if (tx_begin (cat) == -1)
    return -1;
  return tx_end (cat,
                 sql_run (cat, "remove set",
                          "DELETE FROM pending_deletions WHERE set_id = ?",
                          "s", set_id) == -1 ||
                 sql_run (cat, "remove set",
                          "DELETE FROM sets WHERE set_id = ?",
                          "s", set_id) == -1 ? -1 : 0);
}

int
catalog_fail_unfinished (struct catalog *cat, const char *reason,
                         int64_t now)
{
  static const char *const names[] = { "set_id", "state", NULL };
  json_t *sets, *v;
  sqlite3_stmt *st;
  size_t i;
  int n;

  if (tx_begin (cat) == -1)
    return -1;
  st = prepare (cat, "SELECT set_id, state FROM sets "
                "WHERE state NOT IN ('committed', 'failed') ORDER BY seq");
  if (st == NULL)
    return tx_end (cat, -1);
  sets = rows_json (cat, st, "find unfinished sets", names);
  if (sets == NULL)
    return tx_end (cat, -1);
  json_array_foreach (sets, i, v) {
    const char *set_id = json_string_value (json_object_get (v, "set_id"));

    log_warnx ("snapshot set %s was %s: recorded failed (%s)", set_id,
               json_string_value (json_object_get (v, "state")), reason);
    if (sql_run (cat, "queue deletions",
                 "INSERT OR IGNORE INTO pending_deletions "
                 "(provider, set_id, queued) SELECT name, set_id, ? "
                 "FROM participants WHERE set_id = ? AND kind = 'provider'",
                 "is", now, set_id) == -1 ||
        sql_run (cat, "drop snapshots of failed set",
                 "DELETE FROM set_snapshots WHERE set_id = ?", "s", set_id)
        == -1 ||
        sql_run (cat, "fail set",
                 "UPDATE sets SET state = 'failed', reason = ?, finished = ? "
                 "WHERE set_id = ?", "sis", reason, now, set_id) == -1) {
      json_decref (sets);
      return tx_end (cat, -1);
    }
  }
  n = (int) json_array_size (sets);
  json_decref (sets);
  return tx_end (cat, 0) == 0 ? n : -1;
}

/* Pending deletions. */

int
catalog_deletion_add (struct catalog *cat, const char *provider,
                      const char *set_id)
{
  return write_run (cat, "queue deletion",
                  "INSERT OR IGNORE INTO pending_deletions "
                  "(provider, set_id, queued) VALUES (?, ?, strftime('%s'))",
                  "ss", provider, set_id);
}

int
catalog_deletion_remove (struct catalog *cat, const char *provider,
                         const char *set_id)
{
  return write_run (cat, "remove deletion",
                  "DELETE FROM pending_deletions WHERE provider = ? "
                  "AND set_id = ?", "ss", provider, set_id);
}

/* The one column COLUMN of the rows SQL selects for PROVIDER (its one
 * parameter), as an array of its values; NULL after a reported
 * error.  WHAT names the query in a failure's message. */
static json_t *
queued_column (struct catalog *cat, const char *sql, const char *what,
               const char *column, const char *provider)
{
  const char *const names[] = { column, NULL };
  sqlite3_stmt *st;
  json_t *objs, *ids, *v;
  size_t i;

  st = prepare (cat, sql);
  if (st == NULL)
    return NULL;
  if (bindv (cat, st, "s", provider) == -1) {
    sqlite3_finalize (st);
    return NULL;
  }
  objs = rows_json (cat, st, what, names);
  if (objs == NULL)
    return NULL;
  ids = json_array ();
  json_array_foreach (objs, i, v)
    if (ids == NULL ||
        json_array_append (ids, json_object_get (v, column)) == -1) {
      json_decref (ids);
      ids = NULL;
      break;
    }
  json_decref (objs);
  return ids;
}

json_t *
catalog_deletions (struct catalog *cat, const char *provider)
{
  return queued_column (cat, "SELECT set_id FROM pending_deletions "
                        "WHERE provider = ? ORDER BY queued, rowid",
                        "list deletions", "set_id", provider);
}

/* Pending undos (set.revert). */

int
catalog_undo_arm (struct catalog *cat, const char *undo_set_id,
                  json_t *providers)
{
  json_t *v;
  size_t i;

  if (set_durability (cat, CATALOG_DURABLE) == -1 || tx_begin (cat) == -1)
    return -1;
  json_array_foreach (providers, i, v)
    if (sql_run (cat, "queue undo",
                 "INSERT OR IGNORE INTO pending_undos "
                 "(provider, undo_set_id, queued) "
                 "VALUES (?, ?, strftime('%s'))",
                 "js", v, undo_set_id) == -1)
      return tx_end (cat, -1);
  return tx_end (cat, 0);
}

int
catalog_undo_settle (struct catalog *cat, const char *undo_set_id)
{
  if (set_durability (cat, CATALOG_DURABLE) == -1 || tx_begin (cat) == -1)
    return -1;
  return tx_end (cat,
                 sql_run (cat, "queue deletion of undo set",
                          "INSERT OR IGNORE INTO pending_deletions "
                          "(provider, set_id, queued) SELECT provider, "
                          "undo_set_id, queued FROM pending_undos "
                          "WHERE undo_set_id = ?", "s", undo_set_id) == -1 ||
                 sql_run (cat, "settle undos",
                          "DELETE FROM pending_undos WHERE undo_set_id = ?",
                          "s", undo_set_id) == -1 ? -1 : 0);
}

int
catalog_undo_remove (struct catalog *cat, const char *provider,
                     const char *undo_set_id)
{
  return write_run (cat, "remove undo",
                  "DELETE FROM pending_undos WHERE provider = ? "
                  "AND undo_set_id = ?", "ss", provider, undo_set_id);
}

json_t *
catalog_undos (struct catalog *cat, const char *provider)
{
  return queued_column (cat, "SELECT undo_set_id FROM pending_undos "
                        "WHERE provider = ? ORDER BY queued, rowid",
                        "list undos", "undo_set_id", provider);
}

/* Pending releases (set.release). */

int
catalog_release_queue (struct catalog *cat, const char *set_id,
                       const char *tag, json_t *providers)
{
  json_t *v;
  size_t i;

  if (set_durability (cat, CATALOG_DURABLE) == -1 || tx_begin (cat) == -1)
    return -1;
  json_array_foreach (providers, i, v)
    if (sql_run (cat, "queue release",
                 "INSERT OR IGNORE INTO pending_releases "
                 "(provider, set_id, tag, queued) "
                 "VALUES (?, ?, ?, strftime('%s'))",
                 "jss", v, set_id, tag) == -1)
      return tx_end (cat, -1);
  return tx_end (cat, sql_run (cat, "record a release", "DELETE FROM "
                               "set_holds WHERE set_id = ? AND tag = ?",
                               "ss", set_id, tag));
}

int
catalog_release_remove (struct catalog *cat, const char *provider,
                        const char *set_id, const char *tag)
{
  return write_run (cat, "remove release",
                  "DELETE FROM pending_releases WHERE provider = ? "
                  "AND set_id = ? AND tag = ?", "sss", provider, set_id,
                  tag);
}

json_t *
catalog_releases (struct catalog *cat, const char *provider)
{
  static const char *const names[] = { "set_id", "tag", NULL };
  sqlite3_stmt *st;

  st = prepare (cat, "SELECT set_id, tag FROM pending_releases "
                "WHERE provider = ? ORDER BY queued, rowid");
  if (st == NULL)
    return NULL;
  if (bindv (cat, st, "s", provider) == -1) {
    sqlite3_finalize (st);
    return NULL;
  }
  return rows_json (cat, st, "list releases", names);
}
