/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * catalog-etcd.c: the catalog kept on etcd (catalog-etcd.h).
 *
 * Design notes
 *
 * Keys, under PREFIX (docs/coordinator.md, "The catalog on etcd"):
 *   PREFIX/leader                       the leader's advertise address,
 *                                       bound to its lease (election)
 *   PREFIX/catalog/base                 {"index": N, "chunks": K,
 *                                        "bytes": S}: the image holds
 *                                       the catalog after log entry N
 *   PREFIX/catalog/image/%020llu/%06u   the image of index N in K chunks
 *   PREFIX/catalog/log/%020llu          log entries N+1, N+2, ...
 *   PREFIX/catalog/log-chunks/%020llu/%06u
 *                                       the chunks of a large entry
 * A log entry's value is "c" and the changeset, or, for a changeset
 * larger than CATALOG_ETCD_CHUNK, "x" and "K S" (decimal): its K
 * chunks of S bytes in all are under log-chunks/ with its index.
 *
 * Every write is one etcd txn guarded by the leadership: PREFIX/leader
 * has create_revision TERM (the revision at which this coordinator won
 * the election) and value ADVERTISE.  A deposed leader, however late it
 * wakes up, can write nothing: its term is another key's revision.
 *
 * Appending (the catalog's replica function, called before the local
 * COMMIT, catalog.c's design notes):
 *   1. a changeset over CATALOG_ETCD_CHUNK goes first in chunks, one
 *      guarded txn each (invisible until an entry names them; chunks
 *      left by a failed append are overwritten by the next one of that
 *      index, or deleted by the next compaction);
 *   2. one guarded txn creates log/INDEX (compare create_revision == 0:
 *      an index is never written twice);
 *   3. refused: if the leader key is not ours, EPERM "not the leader
 *      any more"; else the entry exists: this catalog is behind etcd's
 *      log, EIO (the coordinator reloads).  Not answered (a timeout):
 *      the entry is read back, since the txn may have been applied;
 *      there with our bytes it counts as appended, else EIO.
 * Lazy and durable transactions are appended alike: etcd commits each
 * txn to a quorum's disks before it answers.
 *
 * Compaction, after the commit of every EVERY-th entry (the catalog's
 * committed hook, outside any transaction): the image (catalog_image)
 * is written in chunks of image/INDEX/, one guarded txn each, then one
 * guarded txn puts base and deletes the log and log-chunks up to INDEX
 * and every older image.  Each chunk stays below etcd's request limit
 * (1.5 MiB) and each txn below its 128 operations.  A compaction that
 * fails is logged and tried again EVERY/2 entries later; the log just
 * grows meanwhile.
 *
 * Loading: base and its image (or an empty catalog), then the log from
 * base's index + 1 on, in pages, each entry applied in order
 * (catalog_apply); a gap in the indexes, a missing chunk or an entry
 * that does not apply fails the load with EILSEQ.  The load runs once
 * this coordinator leads, so nobody else writes meanwhile.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "catalog-etcd.h"
#include "log.h"

/* Log entries read per range call while loading. */
#define LOAD_PAGE 64
/* Chunks read per range call (CATALOG_ETCD_CHUNK each). */
#define CHUNK_PAGE 4
/* Room for PREFIX and the longest key below it. */
#define KEY_MAX 512
#define PREFIX_MAX 256

struct catalog_etcd {
  struct catalog *cat;
  struct etcd *e;
  char *prefix, *advertise;
  char leader[KEY_MAX];
  uint64_t term;
  uint64_t next;                /* index of the next log entry */
  uint64_t base;                /* index the newest image holds */
  uint64_t retry_at;            /* no compaction before this index */
  unsigned every;
};

static void fail_with (char *err, size_t errlen, int errnum,
                       const char *fmt, ...)
  __attribute__((format (printf, 4, 5)));

static void
fail_with (char *err, size_t errlen, int errnum, const char *fmt, ...)
{
  va_list ap;

  if (errlen > 0) {
    va_start (ap, fmt);
    vsnprintf (err, errlen, fmt, ap);
    va_end (ap);
  }
  errno = errnum;
}

static void key_fmt (char *key, const char *prefix, const char *fmt, ...)
  __attribute__((format (printf, 3, 4)));

/* PREFIX followed by FMT, in KEY (KEY_MAX bytes; PREFIX is at most
 * PREFIX_MAX, checked when it is given). */
static void
key_fmt (char *key, const char *prefix, const char *fmt, ...)
{
  size_t n = (size_t) snprintf (key, KEY_MAX, "%s", prefix);
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (key + n, KEY_MAX - n, fmt, ap);
  va_end (ap);
}

static int
check_prefix (const char *prefix, char *err, size_t errlen)
{
  if (prefix[0] != '/' || strlen (prefix) > PREFIX_MAX) {
    fail_with (err, errlen, EINVAL, "catalog on etcd: prefix %.64s: not "
               "/NAME of at most %d bytes", prefix, PREFIX_MAX);
    return -1;
  }
  return 0;
}

/* The index in KEY, which must be DIR followed by 20 digits. */
static int
key_index (const char *key, const char *dir, uint64_t *index)
{
  size_t n = strlen (dir), i;
  const char *digits = key + n;

  if (strncmp (key, dir, n) != 0 || strlen (digits) != 20)
    return -1;
  *index = 0;
  for (i = 0; i < 20; i++) {
    uint64_t d = (uint64_t) (digits[i] - '0');

    if (digits[i] < '0' || digits[i] > '9' ||
        *index > (UINT64_MAX - d) / 10)
      return -1;
    *index = *index * 10 + d;
  }
  return 0;
}

/* Reading. */

/* The K chunks of S bytes under DIR, concatenated into a new buffer. */
static void *
read_chunks (struct etcd *e, const char *dir, uint64_t k, uint64_t s,
             char *err, size_t errlen)
{
  char from[KEY_MAX], want[KEY_MAX];
  unsigned char *buf = malloc (s > 0 ? s : 1);
  uint64_t got = 0, next = 0;

  if (buf == NULL) {
    fail_with (err, errlen, ENOMEM, "catalog on etcd: %s: out of memory",
               dir);
    return NULL;
  }
  while (next < k) {
    struct etcd_kv *kvs;
    size_t n, i;

    key_fmt (from, dir, "%06" PRIu64, next);
    if (etcd_range (e, dir, from, CHUNK_PAGE, &kvs, &n, NULL, err,
                    errlen) == -1)
      goto err;
    if (n == 0) {
      fail_with (err, errlen, EILSEQ, "catalog on etcd: %s: chunk %" PRIu64
                 " of %" PRIu64 " is missing", dir, next, k);
      goto err;
    }
    for (i = 0; i < n && next < k; i++, next++) {
      key_fmt (want, dir, "%06" PRIu64, next);
      if (strcmp (kvs[i].key, want) != 0 || kvs[i].len > s - got) {
        fail_with (err, errlen, EILSEQ, "catalog on etcd: %s: chunk %"
                   PRIu64 " of %" PRIu64 " is missing or too long", dir,
                   next, k);
        etcd_kvs_free (kvs, n);
        goto err;
      }
      memcpy (buf + got, kvs[i].value, kvs[i].len);
      got += kvs[i].len;
    }
    etcd_kvs_free (kvs, n);
  }
  if (got != s) {
    fail_with (err, errlen, EILSEQ, "catalog on etcd: %s: %" PRIu64
               " bytes in %" PRIu64 " chunks, not %" PRIu64, dir, got, k, s);
    goto err;
  }
  return buf;

 err:
  free (buf);
  return NULL;
}

/* PREFIX/catalog/base: *found, and its index, chunks and bytes. */
static int
read_base (struct etcd *e, const char *prefix, bool *found, uint64_t *index,
           uint64_t *chunks, uint64_t *bytes, char *err, size_t errlen)
{
  char key[KEY_MAX];
  struct etcd_kv kv;
  json_error_t jerr;
  json_int_t i, k, s;
  json_t *j;

  key_fmt (key, prefix, "/catalog/base");
  if (etcd_get (e, key, &kv, found, NULL, err, errlen) == -1)
    return -1;
  *index = 0;
  if (!*found)
    return 0;
  j = json_loadb (kv.value, kv.len, 0, &jerr);
  etcd_kv_free (&kv);
  if (j == NULL || json_unpack (j, "{sI sI sI !}", "index", &i, "chunks", &k,
                                "bytes", &s) == -1 ||
      i < 1 || k < 1 || s < 1 ||
      (uint64_t) k != ((uint64_t) s + CATALOG_ETCD_CHUNK - 1)
      / CATALOG_ETCD_CHUNK) {
    json_decref (j);
    fail_with (err, errlen, EILSEQ, "catalog on etcd: %s: not "
               "{\"index\", \"chunks\", \"bytes\"} of an image", key);
    return -1;
  }
  json_decref (j);
  *index = (uint64_t) i;
  *chunks = (uint64_t) k;
  *bytes = (uint64_t) s;
  return 0;
}

/* Apply the log entry INDEX whose value is KV to CAT. */
static int
apply_entry (struct catalog *cat, struct etcd *e, const char *prefix,
             uint64_t index, const struct etcd_kv *kv, char *err,
             size_t errlen)
{
  const unsigned char *v = kv->value;
  void *big = NULL;
  const void *cs;
  size_t len;
  int r;

  if (kv->len >= 1 && v[0] == 'c') {
    cs = v + 1;
    len = kv->len - 1;
  }
  else if (kv->len >= 4 && v[0] == 'x') {
    char dir[KEY_MAX], tail;
    uint64_t k, s;

    if (sscanf ((const char *) v + 1, "%" SCNu64 " %" SCNu64 "%c", &k, &s,
                &tail) != 2 || k == 0 || s == 0 ||
        k != (s + CATALOG_ETCD_CHUNK - 1) / CATALOG_ETCD_CHUNK) {
      fail_with (err, errlen, EILSEQ, "catalog on etcd: %s: not a log "
                 "entry", kv->key);
      return -1;
    }
    key_fmt (dir, prefix, "/catalog/log-chunks/%020" PRIu64 "/", index);
    big = read_chunks (e, dir, k, s, err, errlen);
    if (big == NULL)
      return -1;
    cs = big;
    len = s;
  }
  else {
    fail_with (err, errlen, EILSEQ, "catalog on etcd: %s: not a log entry",
               kv->key);
    return -1;
  }
  r = catalog_apply (cat, cs, len);
  free (big);
  if (r == -1)
    fail_with (err, errlen, EILSEQ, "catalog on etcd: %s: %s", kv->key,
               catalog_errmsg (cat));
  return r;
}

/* Apply the log from index *NEXT on to CAT; *NEXT ends past the last. */
static int
apply_log (struct catalog *cat, struct etcd *e, const char *prefix,
           uint64_t *next, char *err, size_t errlen)
{
  char dir[KEY_MAX], from[KEY_MAX];
  struct etcd_kv *kvs;
  size_t n, i;

  key_fmt (dir, prefix, "/catalog/log/");
  do {
    key_fmt (from, prefix, "/catalog/log/%020" PRIu64, *next);
    if (etcd_range (e, dir, from, LOAD_PAGE, &kvs, &n, NULL, err,
                    errlen) == -1)
      return -1;
    for (i = 0; i < n; i++, (*next)++) {
      uint64_t index;

      if (key_index (kvs[i].key, dir, &index) == -1 || index != *next) {
        fail_with (err, errlen, EILSEQ, "catalog on etcd: log entry %"
                   PRIu64 " is missing (found %s)", *next, kvs[i].key);
        etcd_kvs_free (kvs, n);
        return -1;
      }
      if (apply_entry (cat, e, prefix, index, &kvs[i], err, errlen) == -1) {
        etcd_kvs_free (kvs, n);
        return -1;
      }
    }
    etcd_kvs_free (kvs, n);
  } while (n == LOAD_PAGE);
  return 0;
}

struct catalog *
catalog_etcd_load (struct etcd *e, const char *prefix, char *err,
                   size_t errlen)
{
  uint64_t index, chunks = 0, bytes = 0, next;
  struct catalog *cat;
  bool found;

  if (check_prefix (prefix, err, errlen) == -1 ||
      read_base (e, prefix, &found, &index, &chunks, &bytes, err,
                 errlen) == -1)
    return NULL;
  if (found) {
    char dir[KEY_MAX];
    void *image;

    key_fmt (dir, prefix, "/catalog/image/%020" PRIu64 "/", index);
    image = read_chunks (e, dir, chunks, bytes, err, errlen);
    if (image == NULL)
      return NULL;
    cat = catalog_open_image (image, bytes, err, errlen);
    free (image);
    if (cat == NULL) {
      errno = EILSEQ;
      return NULL;
    }
  }
  else {
    cat = catalog_open_memory (err, errlen);
    if (cat == NULL)
      return NULL;
  }
  next = index + 1;
  if (apply_log (cat, e, prefix, &next, err, errlen) == -1) {
    int saved = errno;

    catalog_close (cat);
    errno = saved;
    return NULL;
  }
  return cat;
}

/* Writing. */

/* The two compares of the leadership guard, in CMPS[0..1]. */
static void
guard (const struct catalog_etcd *st, struct etcd_cmp *cmps)
{
  memset (cmps, 0, 2 * sizeof *cmps);
  cmps[0].key = st->leader;
  cmps[0].target = ETCD_CREATE;
  cmps[0].revision = (int64_t) st->term;
  cmps[1].key = st->leader;
  cmps[1].target = ETCD_VALUE;
  cmps[1].value = st->advertise;
  cmps[1].len = strlen (st->advertise);
}

/* A guarded txn was refused: is the leader key still ours?  0 if it
 * is; -1 with EPERM (or etcd's error) and a message if not. */
static int
leadership_lost (struct catalog_etcd *st, const char *what, char *err,
                 size_t errlen)
{
  struct etcd_kv kv;
  bool found;
  char msg[256];

  if (etcd_get (st->e, st->leader, &kv, &found, NULL, msg,
                sizeof msg) == -1) {
    fail_with (err, errlen, EIO, "catalog on etcd: %s: refused, and %s",
               what, msg);
    return -1;
  }
  if (!found) {
    fail_with (err, errlen, EPERM, "not the leader any more: %s does not "
               "exist (this coordinator: %s, term %" PRIu64 "); %s refused",
               st->leader, st->advertise, st->term, what);
    return -1;
  }
  if ((uint64_t) kv.create_revision != st->term ||
      kv.len != strlen (st->advertise) ||
      memcmp (kv.value, st->advertise, kv.len) != 0) {
    fail_with (err, errlen, EPERM, "not the leader any more: %s is %.100s "
               "at term %" PRId64 " (this coordinator: %s, term %" PRIu64
               "); %s refused", st->leader, (char *) kv.value,
               kv.create_revision, st->advertise, st->term, what);
    etcd_kv_free (&kv);
    return -1;
  }
  etcd_kv_free (&kv);
  return 0;
}

/* One guarded txn of OPS (plus EXTRA compares).  0, or -1 with errno
 * EPERM (leadership lost), EEXIST (the guard holds but an extra
 * compare failed), or etcd's (no answer) and a message. */
static int
guarded_txn (struct catalog_etcd *st, const struct etcd_cmp *extra,
             size_t nextra, const struct etcd_op *ops, size_t nops,
             const char *what, char *err, size_t errlen)
{
  struct etcd_cmp cmps[3];
  char msg[768];
  bool ok;

  guard (st, cmps);
  if (nextra > 0)
    cmps[2] = extra[0];
  if (etcd_txn (st->e, cmps, 2 + nextra, ops, nops, &ok, NULL, msg,
                sizeof msg) == -1) {
    fail_with (err, errlen, errno, "catalog on etcd: %s: %s", what, msg);
    return -1;
  }
  if (ok)
    return 0;
  if (leadership_lost (st, what, err, errlen) == -1)
    return -1;
  fail_with (err, errlen, EEXIST, "catalog on etcd: %s: exists already",
             what);
  return -1;
}

/* Write DATA (LEN bytes) in chunks under DIR, one guarded txn each. */
static int
write_chunks (struct catalog_etcd *st, const char *dir, const void *data,
              size_t len, uint64_t *k, char *err, size_t errlen)
{
  const unsigned char *p = data;
  char key[KEY_MAX];
  uint64_t i;

  *k = (len + CATALOG_ETCD_CHUNK - 1) / CATALOG_ETCD_CHUNK;
  for (i = 0; i < *k; i++) {
    size_t off = (size_t) i * CATALOG_ETCD_CHUNK;
    struct etcd_op op = {
      .kind = ETCD_PUT, .key = key, .value = p + off,
      .len = len - off < CATALOG_ETCD_CHUNK ? len - off : CATALOG_ETCD_CHUNK,
    };

    key_fmt (key, dir, "%06" PRIu64, i);
    if (guarded_txn (st, NULL, 0, &op, 1, key, err, errlen) == -1)
      return -1;
  }
  return 0;
}

/* The append's txn was not answered: was it applied all the same?
 * Then the entry is there with VALUE. */
static bool
appended_anyway (struct catalog_etcd *st, const char *key, const void *value,
                 size_t len)
{
  struct etcd_kv kv;
  bool found, same;
  char msg[256];

  if (etcd_get (st->e, key, &kv, &found, NULL, msg, sizeof msg) == -1 ||
      !found)
    return false;
  same = kv.len == len && memcmp (kv.value, value, len) == 0;
  etcd_kv_free (&kv);
  return same;
}

/* The replica function (the design notes, "Appending"). */
static int
append (void *opaque, const void *changeset, size_t len,
        enum catalog_sync sync, char *err, size_t errlen)
{
  struct catalog_etcd *st = opaque;
  char key[KEY_MAX], what[KEY_MAX + 16];
  struct etcd_cmp absent = { .key = key, .target = ETCD_CREATE };
  struct etcd_op op = { .kind = ETCD_PUT, .key = key };
  unsigned char *value;
  size_t vlen;
  int r, saved;

  key_fmt (key, st->prefix, "/catalog/log/%020" PRIu64, st->next);
  snprintf (what, sizeof what, "append %s", key);
  if (len + 1 <= CATALOG_ETCD_CHUNK) {
    value = malloc (len + 1);
    if (value == NULL) {
      fail_with (err, errlen, ENOMEM, "catalog on etcd: %s: out of memory",
                 what);
      return -1;
    }
    value[0] = 'c';
    memcpy (value + 1, changeset, len);
    vlen = len + 1;
  }
  else {
    char dir[KEY_MAX];
    uint64_t k;

    key_fmt (dir, st->prefix, "/catalog/log-chunks/%020" PRIu64 "/",
             st->next);
    if (write_chunks (st, dir, changeset, len, &k, err, errlen) == -1) {
      if (errno != EPERM)
        errno = EIO;
      return -1;
    }
    value = malloc (64);
    if (value == NULL) {
      fail_with (err, errlen, ENOMEM, "catalog on etcd: %s: out of memory",
                 what);
      return -1;
    }
    vlen = (size_t) snprintf ((char *) value, 64, "x%" PRIu64 " %zu", k,
                              len);
  }
  op.value = value;
  op.len = vlen;
  r = guarded_txn (st, &absent, 1, &op, 1, what, err, errlen);
  saved = errno;
  if (r == -1 && saved != EPERM && saved != EEXIST &&
      appended_anyway (st, key, value, vlen))
    r = 0;
  free (value);
  if (r == 0) {
    st->next++;
    return 0;
  }
  if (saved == EEXIST)
    fail_with (err, errlen, EIO, "catalog on etcd: %s: the entry exists "
               "already: this catalog is behind etcd's log (reload it)",
               what);
  else
    errno = saved == EPERM ? EPERM : EIO;
  return -1;
}

/* The design notes, "Compaction": an image of the catalog after entry
 * INDEX, the older log and images deleted. */
static int
compact (struct catalog_etcd *st, uint64_t index, char *err, size_t errlen)
{
  char dir[KEY_MAX], base[KEY_MAX], key[3][KEY_MAX], end[3][KEY_MAX];
  char what[64], value[128];
  struct etcd_op ops[4];
  uint64_t k;
  void *image;
  size_t len;
  int r;

  if (catalog_image (st->cat, &image, &len) == -1) {
    fail_with (err, errlen, errno, "%s", catalog_errmsg (st->cat));
    return -1;
  }
  key_fmt (dir, st->prefix, "/catalog/image/%020" PRIu64 "/", index);
  r = write_chunks (st, dir, image, len, &k, err, errlen);
  free (image);
  if (r == -1)
    return -1;

  key_fmt (base, st->prefix, "/catalog/base");
  snprintf (value, sizeof value, "{\"index\": %" PRIu64 ", \"chunks\": %"
            PRIu64 ", \"bytes\": %zu}", index, k, len);
  key_fmt (key[0], st->prefix, "/catalog/log/");
  key_fmt (end[0], st->prefix, "/catalog/log/%020" PRIu64, index + 1);
  key_fmt (key[1], st->prefix, "/catalog/log-chunks/");
  key_fmt (end[1], st->prefix, "/catalog/log-chunks/%020" PRIu64, index + 1);
  key_fmt (key[2], st->prefix, "/catalog/image/");
  key_fmt (end[2], st->prefix, "/catalog/image/%020" PRIu64, index);
  memset (ops, 0, sizeof ops);
  ops[0] = (struct etcd_op) { .kind = ETCD_PUT, .key = base, .value = value,
                              .len = strlen (value) };
  for (r = 0; r < 3; r++)
    ops[r + 1] = (struct etcd_op) { .kind = ETCD_DELETE_RANGE,
                                    .key = key[r], .range_end = end[r] };
  snprintf (what, sizeof what, "compaction at %" PRIu64, index);
  if (guarded_txn (st, NULL, 0, ops, 4, what, err, errlen) == -1)
    return -1;
  st->base = index;
  return 0;
}

/* The catalog's committed hook: compact now and then. */
static void
committed (void *opaque)
{
  struct catalog_etcd *st = opaque;
  uint64_t last = st->next - 1;
  char err[1024];

  if (last - st->base < st->every || last < st->retry_at)
    return;
  if (compact (st, last, err, sizeof err) == -1) {
    log_warnx ("%s", err);
    st->retry_at = last + (st->every / 2 > 0 ? st->every / 2 : 1);
  }
}

static void
release (void *opaque)
{
  struct catalog_etcd *st = opaque;

  free (st->prefix);
  free (st->advertise);
  free (st);
}

int
catalog_etcd_attach_every (struct catalog *cat, struct etcd *e,
                           const char *prefix, uint64_t term,
                           const char *advertise, unsigned every, char *err,
                           size_t errlen)
{
  struct catalog_etcd *st;
  uint64_t base, chunks, bytes, last = 0;
  struct etcd_kv kv;
  char dir[KEY_MAX];
  bool found;

  if (check_prefix (prefix, err, errlen) == -1)
    return -1;
  if (every == 0) {
    fail_with (err, errlen, EINVAL, "catalog on etcd: compaction every 0 "
               "entries");
    return -1;
  }
  if (read_base (e, prefix, &found, &base, &chunks, &bytes, err,
                 errlen) == -1)
    return -1;
  key_fmt (dir, prefix, "/catalog/log/");
  if (etcd_last_key (e, dir, &kv, &found, err, errlen) == -1)
    return -1;
  if (found && key_index (kv.key, dir, &last) == -1) {
    fail_with (err, errlen, EILSEQ, "catalog on etcd: %s: not a log entry",
               kv.key);
    etcd_kv_free (&kv);
    return -1;
  }
  etcd_kv_free (&kv);
  st = calloc (1, sizeof *st);
  if (st == NULL || (st->prefix = strdup (prefix)) == NULL ||
      (st->advertise = strdup (advertise)) == NULL) {
    if (st)
      release (st);
    fail_with (err, errlen, ENOMEM, "catalog on etcd: out of memory");
    return -1;
  }
  st->cat = cat;
  st->e = e;
  st->term = term;
  st->every = every;
  st->base = base;
  st->next = (last > base ? last : base) + 1;
  key_fmt (st->leader, prefix, "/leader");
  catalog_set_replica (cat, append, st);
  catalog_set_replica_hooks (cat, committed, release);
  return 0;
}

int
catalog_etcd_attach (struct catalog *cat, struct etcd *e, const char *prefix,
                     uint64_t term, const char *advertise, char *err,
                     size_t errlen)
{
  return catalog_etcd_attach_every (cat, e, prefix, term, advertise,
                                    CATALOG_ETCD_COMPACT_EVERY, err, errlen);
}
