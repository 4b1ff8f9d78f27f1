/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * gen-corpus.c: write the seed corpora of the fuzz targets.
 *
 *   gen-corpus DIR    writes DIR/journal, DIR/checkpoint, DIR/jsonrpc
 *
 * The journal and checkpoint seeds are made by the engine itself:
 * workloads run on a volume built by volimage.c in memory, and the
 * journal records and checkpoints the engine wrote are wrapped in the
 * fuzz input layout (volimage.h).  Each seed is checked the way the
 * fuzz targets check it (it must open, or for the few damaged ones be
 * refused).  The JSON-RPC seeds are messages of docs/protocol.md made
 * with common/jsonrpc.c's builders and encoder, plus damaged ones.
 * UUIDs, salts and times are random or current, so every run writes
 * different bytes with the same meaning.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "jsonrpc.h"
#include "ondisk.h"
#include "pool.h"
#include "volimage.h"

static const char *outdir;

static void die (const char *fmt, ...)
  __attribute__((format (printf, 1, 2), noreturn));

static void
die (const char *fmt, ...)
{
  va_list ap;

  fprintf (stderr, "gen-corpus: ");
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fprintf (stderr, "\n");
  exit (EXIT_FAILURE);
}

static void
write_seed (const char *corpus, const char *name, const void *data,
            size_t len)
{
  char path[4096];
  FILE *fp;

  snprintf (path, sizeof path, "%s/%s/%s", outdir, corpus, name);
  fp = fopen (path, "w");
  if (fp == NULL)
    die ("open: %s: %m", path);
  if ((len > 0 && fwrite (data, len, 1, fp) != 1) || fclose (fp) == EOF)
    die ("write: %s: %m", path);
}

/* Engine calls in a workload must succeed: a seed made from a failed
 * workload would not be what its name says. */
#define MUST(call)                                                      \
  do {                                                                  \
    if ((call) == -1)                                                   \
      die ("%s:%d: %s: %s", __FILE__, __LINE__, #call, sv_errmsg ());   \
  } while (0)

/* Workloads.  Each gets the pool holding VI_VOLUME and ends with its
 * changes durable. */

struct wl {
  struct sv_pool *pool;
  struct sv_view *view;
  uint64_t size;
  uint32_t cs, ss;
};

static void
wl_write (struct wl *w, uint64_t off, uint32_t len, uint8_t fill)
{
  uint8_t *buf = malloc (len);

  if (buf == NULL)
    die ("out of memory");
  memset (buf, fill, len);
  if (off + len > w->size)
    off = w->size - len;
  MUST (view_pwrite (w->view, buf, len, off, 0));
  free (buf);
}

static void
wl_snapshot (struct wl *w, const char *label, char id[SV_UUID_STRLEN + 1])
{
  const char *vols[1] = { VI_VOLUME };
  char set_id[SV_UUID_STRLEN + 1];
  struct sv_snap_result res;

  MUST (pool_snapshot_create (w->pool, vols, 1, label, NULL, set_id, &res));
  if (id != NULL)
    memcpy (id, res.id, SV_UUID_STRLEN + 1);
}

/* Writes, aligned and not, in a few clusters. */
static void
wl_writes (struct wl *w)
{
  wl_write (w, 0, w->ss, 0x11);
  wl_write (w, w->cs + 100, w->ss + 300, 0x22);
  wl_write (w, 3 * (uint64_t) w->cs - 512, 1024, 0x33);
  wl_write (w, w->size - 512, 512, 0x44);
  MUST (view_flush (w->view));
}

/* Copy-on-write against snapshots, zeroes, trims and a deletion. */
static void
wl_snapshots (struct wl *w)
{
  char first[SV_UUID_STRLEN + 1];

  wl_write (w, 0, 2 * w->cs, 0x51);
  wl_snapshot (w, "first", first);
  wl_write (w, w->ss / 2, w->ss, 0x52);
  MUST (view_zero (w->view, w->ss, w->cs, 0, 0, 0));
  wl_snapshot (w, "second", NULL);
  MUST (view_trim (w->view, w->cs, 0, 0));
  wl_write (w, w->cs + w->ss, 100, 0x53);
  wl_snapshot (w, NULL, NULL);
  MUST (pool_snapshot_delete (w->pool, first, NULL));
  wl_write (w, 2 * (uint64_t) w->cs, w->ss, 0x54);
  MUST (view_flush (w->view));
}

/* Many clusters (past a radix-table boundary with 4 KiB clusters),
 * then trims that free some of them. */
static void
wl_spread (struct wl *w)
{
  uint64_t off, stride = 37 * (uint64_t) w->cs;
  unsigned i = 0;

  for (off = 0; off + w->ss <= w->size; off += stride)
    wl_write (w, off, w->ss, 0x60 + i++ % 16);
  MUST (view_trim (w->view, w->cs, stride + w->cs <= w->size ? stride : 0,
                   0));
  MUST (view_flush (w->view));
}

/* A chain of snapshots over the same cluster, deep enough that a
 * version is filled whole instead of falling through. */
static void
wl_chain (struct wl *w)
{
  char ids[10][SV_UUID_STRLEN + 1];
  unsigned i;

  for (i = 0; i < 10; i++) {
    wl_write (w, (uint64_t) i * w->ss % w->cs, w->ss / 2 + 1, 0x70 + i);
    wl_snapshot (w, "chain", ids[i]);
  }
  MUST (pool_snapshot_delete (w->pool, ids[3], NULL));
  MUST (pool_snapshot_delete (w->pool, ids[4], NULL));
  MUST (view_flush (w->view));
}

static void
wl_none (struct wl *w)
{
}

typedef void (*workload_fn) (struct wl *w);

static struct sv_pool *
open_pool (struct memfs *fs)
{
  struct sv_pool_options opts = { .io = memfs_io (fs) };
  struct sv_pool *pool = pool_open (VI_POOL, &opts, 0);

  if (pool == NULL)
    die ("pool_open: %s", sv_errmsg ());
  return pool;
}

static void
wl_run (struct sv_pool *pool, workload_fn fn)
{
  struct wl w = { .pool = pool };
  struct sv_volume_info *vi;
  size_t n;

  if (pool_volume_list (pool, VI_VOLUME, &vi, &n) == -1 || n != 1)
    die ("pool_volume_list: %s", sv_errmsg ());
  w.size = vi->size;
  w.cs = vi->cluster_size;
  w.ss = vi->subcluster_size;
  free (vi);
  w.view = view_open (pool, VI_VOLUME);
  if (w.view == NULL)
    die ("view_open: %s", sv_errmsg ());
  fn (&w);
  view_close (w.view);
}

/* What the engine left on disk. */
struct capture {
  uint8_t *ckpt;                /* NULL: the built-in checkpoint */
  size_t ckpt_len;
  uint8_t *records;
  size_t records_len;
};

static void
capture_free (struct capture *c)
{
  free (c->ckpt);
  free (c->records);
}

/* Run BEFORE, close the pool (which writes a checkpoint) and reopen it
 * when BEFORE is given, then run AFTER, and capture the checkpoint (in
 * its fuzz input form) and the records of the journal file it names.
 * The last close is not captured. */
static void
make_state (uint8_t flags, workload_fn before, workload_fn after,
            struct capture *c)
{
  struct vimage base = { .flags = flags & VI_CLUSTER };
  struct memfs *fs = vimage_build (&base);
  struct sv_pool *pool = open_pool (fs);
  uint64_t jfirst = 1;
  char path[256];
  uint8_t *file;
  size_t len;

  memset (c, 0, sizeof *c);
  if (before != NULL) {
    wl_run (pool, before);
    if (pool_close (pool) == -1)
      die ("pool_close: %s", sv_errmsg ());
    pool = open_pool (fs);
  }
  wl_run (pool, after);

  if (before != NULL) {
    file = memfs_get (fs, VI_VOLDIR "/checkpoint", &len);
    if (file == NULL || len < SV_BLOCK)
      die ("no checkpoint after a clean close");
    jfirst = get_le64 (file + CK_OFF_JFIRST);
    /* The fuzz form: the header's first VI_CKPT_HEAD bytes, then the
     * body (the rest of the header is zeroes). */
    memmove (file + VI_CKPT_HEAD, file + SV_BLOCK, len - SV_BLOCK);
    c->ckpt = file;
    c->ckpt_len = VI_CKPT_HEAD + len - SV_BLOCK;
  }
  snprintf (path, sizeof path, VI_VOLDIR "/journal.%016" PRIx64, jfirst);
  file = memfs_get (fs, path, &len);
  if (file == NULL || len < SV_BLOCK)
    die ("%s: missing or short", path);
  memmove (file, file + SV_BLOCK, len - SV_BLOCK);
  c->records = file;
  c->records_len = len - SV_BLOCK;

  if (pool_close (pool) == -1)
    die ("pool_close: %s", sv_errmsg ());
  memfs_free (fs);
}

enum expect { OPENS, REFUSED };

/* Check IM as the fuzz targets do, then write it to CORPUS/NAME. */
static void
emit (const char *corpus, const char *name, const struct vimage *im,
      enum vi_layout layout, enum expect expect)
{
  int r = vimage_check (im);
  uint8_t *input;
  size_t len;

  if ((r == 0) != (expect == OPENS))
    die ("seed %s/%s: the engine %s it: %s", corpus, name,
         r == 0 ? "opened" : "refused", r == 0 ? "" : sv_errmsg ());
  input = vimage_encode (im, layout, &len);
  if (input == NULL)
    die ("seed %s/%s: %m", corpus, name);
  write_seed (corpus, name, input, len);
  free (input);
}

static const char *const cluster_names[4] = { "64k", "4k", "16k", "1m" };

static struct vimage
image_of (const struct capture *c, uint8_t flags)
{
  struct vimage im = {
    .flags = flags,
    .ckpt = c->ckpt, .ckpt_len = c->ckpt_len,
    .records = c->records, .records_len = c->records_len,
    .op = { 77, 200 },
  };
  return im;
}

static void
journal_seeds (void)
{
  struct capture c;
  struct vimage im;
  char name[64];
  uint8_t k;

  for (k = 0; k < 4; k++) {
    make_state (k, NULL, wl_writes, &c);
    im = image_of (&c, k);
    snprintf (name, sizeof name, "writes-%s", cluster_names[k]);
    emit ("journal", name, &im, VI_CKPT_FIRST, OPENS);
    capture_free (&c);

    make_state (k, NULL, wl_snapshots, &c);
    im = image_of (&c, k);
    snprintf (name, sizeof name, "snapshots-%s", cluster_names[k]);
    emit ("journal", name, &im, VI_CKPT_FIRST, OPENS);
    capture_free (&c);
  }

  make_state (1, NULL, wl_spread, &c);
  im = image_of (&c, 1);
  emit ("journal", "spread-4k", &im, VI_CKPT_FIRST, OPENS);
  capture_free (&c);

  make_state (0, NULL, wl_chain, &c);
  im = image_of (&c, 0);
  emit ("journal", "chain-64k", &im, VI_CKPT_FIRST, OPENS);
  im.flags |= VI_EXERCISE;
  emit ("journal", "chain-64k-exercise", &im, VI_CKPT_FIRST, OPENS);
  capture_free (&c);

  make_state (0, NULL, wl_snapshots, &c);
  im = image_of (&c, VI_VERBATIM);
  emit ("journal", "snapshots-64k-verbatim", &im, VI_CKPT_FIRST, OPENS);
  im = image_of (&c, VI_SPLIT);
  im.split = 4;
  emit ("journal", "snapshots-64k-split", &im, VI_CKPT_FIRST, OPENS);
  im = image_of (&c, VI_TORN_NEXT);
  emit ("journal", "snapshots-64k-torn-next", &im, VI_CKPT_FIRST, OPENS);
  /* A torn tail: the last record cut short, then one with a bad
   * checksum (kept as given). */
  im = image_of (&c, 0);
  im.records_len -= 10;
  emit ("journal", "snapshots-64k-torn-tail", &im, VI_CKPT_FIRST, OPENS);
  c.records[c.records_len - 1] ^= 0x80;
  im = image_of (&c, VI_VERBATIM);
  emit ("journal", "snapshots-64k-bad-crc-tail", &im, VI_CKPT_FIRST, OPENS);
  c.records[c.records_len - 1] ^= 0x80;
  /* A torn record in a file followed by more records: corruption. */
  im = image_of (&c, VI_SPLIT);
  im.split = 3;
  im.records_len -= 10;
  c.records[20] ^= 0x01;
  im.flags |= VI_VERBATIM;
  emit ("journal", "snapshots-64k-split-corrupt", &im, VI_CKPT_FIRST,
        REFUSED);
  capture_free (&c);

  /* Records after a checkpoint, with the one before it left behind. */
  make_state (0, wl_snapshots, wl_writes, &c);
  im = image_of (&c, 0);
  emit ("journal", "after-checkpoint-64k", &im, VI_CKPT_FIRST, OPENS);
  im.flags |= VI_STALE | VI_TORN_NEXT | VI_EXERCISE;
  emit ("journal", "after-checkpoint-64k-stale-exercise", &im, VI_CKPT_FIRST,
        OPENS);
  capture_free (&c);

  /* No records at all, and a built-in checkpoint ahead of a journal
   * that starts too late. */
  memset (&im, 0, sizeof im);
  emit ("journal", "empty", &im, VI_CKPT_FIRST, OPENS);
  make_state (0, NULL, wl_writes, &c);
  im = image_of (&c, 0);
  im.last_seq = 0;
  im.records = c.records + JR_HDR + get_le16 (c.records + 6);
  im.records_len = c.records_len - (im.records - c.records);
  emit ("journal", "writes-64k-gap", &im, VI_CKPT_FIRST, REFUSED);
  capture_free (&c);
}

static void
checkpoint_seeds (void)
{
  struct capture c;
  struct vimage im;
  char name[64];
  uint8_t k;

  for (k = 0; k < 4; k++) {
    make_state (k, wl_snapshots, wl_none, &c);
    im = image_of (&c, k);
    snprintf (name, sizeof name, "snapshots-%s", cluster_names[k]);
    emit ("checkpoint", name, &im, VI_RECORDS_FIRST, OPENS);
    capture_free (&c);

    make_state (k, wl_spread, wl_snapshots, &c);
    im = image_of (&c, k);
    snprintf (name, sizeof name, "spread-then-snapshots-%s",
              cluster_names[k]);
    emit ("checkpoint", name, &im, VI_RECORDS_FIRST, OPENS);
    capture_free (&c);
  }

  make_state (0, wl_chain, wl_writes, &c);
  im = image_of (&c, 0);
  emit ("checkpoint", "chain-64k", &im, VI_RECORDS_FIRST, OPENS);
  im.flags |= VI_EXERCISE;
  emit ("checkpoint", "chain-64k-exercise", &im, VI_RECORDS_FIRST, OPENS);
  capture_free (&c);

  make_state (0, wl_snapshots, wl_none, &c);
  im = image_of (&c, VI_VERBATIM);
  emit ("checkpoint", "snapshots-64k-verbatim", &im, VI_RECORDS_FIRST,
        OPENS);
  /* Damaged: a short header, a body cut short, a newer version. */
  im = image_of (&c, VI_CKPT_SHORT);
  emit ("checkpoint", "short-header", &im, VI_RECORDS_FIRST, REFUSED);
  im = image_of (&c, 0);
  im.ckpt_len -= CK_ENTRY_LEN;
  emit ("checkpoint", "short-body", &im, VI_RECORDS_FIRST, REFUSED);
  put_le32 (c.ckpt + OFF_VERSION, SV_FORMAT_VERSION + 1);
  im = image_of (&c, 0);
  emit ("checkpoint", "newer-version", &im, VI_RECORDS_FIRST, REFUSED);
  capture_free (&c);
}

/* JSON-RPC. */

static json_t *
must_json (json_t *j)
{
  if (j == NULL)
    die ("building a JSON-RPC message failed: %m");
  return j;
}

/* Append MSG (stolen), encoded and framed, to the stream S. */
static void
append_msg (char **s, size_t *n, json_t *msg)
{
  size_t len;
  char *text = jsonrpc_encode (must_json (msg), &len);
  char *ns;

  json_decref (msg);
  if (text == NULL)
    die ("jsonrpc_encode: %m");
  ns = realloc (*s, *n + len);
  if (ns == NULL)
    die ("out of memory");
  memcpy (ns + *n, text, len);
  *s = ns;
  *n += len;
  free (text);
}

/* A fuzz-jsonrpc input: the chunking byte, then the stream. */
static void
emit_stream (const char *name, uint8_t chunking, const char *s, size_t n)
{
  uint8_t *input = malloc (n + 1);

  if (input == NULL)
    die ("out of memory");
  input[0] = chunking;
  memcpy (input + 1, s, n);
  write_seed ("jsonrpc", name, input, n + 1);
  free (input);
}

static void
emit_msg (const char *name, uint8_t chunking, json_t *msg)
{
  char *s = NULL;
  size_t n = 0;

  append_msg (&s, &n, msg);
  emit_stream (name, chunking, s, n);
  free (s);
}

static json_t *
volume_object (void)
{
  return json_pack ("{s:s, s:s, s:I, s:i, s:i, s:i, s:i, s:I, s:I, s:I,"
                    " s:I, s:I, s:i, s:s}",
                    "name", "db", "uuid",
                    "8f0c2d4e-5b7a-4c1e-9d3f-2a6b8c0e1f47",
                    "size", (json_int_t) 1 << 30, "cluster_size", 65536,
                    "subcluster_size", 4096, "generation", 3,
                    "snapshots", 2, "created", (json_int_t) 1767225600,
                    "allocated_bytes", (json_int_t) 1 << 20,
                    "referenced_bytes", (json_int_t) 786432,
                    "written_bytes", (json_int_t) 65536,
                    "snapshot_bytes", (json_int_t) 262144,
                    "open_count", 1, "export", "db");
}

static void
jsonrpc_seeds (void)
{
  static const char *const set = "3d6f1a2b-9c4e-4f8a-b1d2-7e5c3a9f0b61";
  json_t *id;
  char *s = NULL;
  size_t n = 0;

  /* One request per method of docs/protocol.md. */
  emit_msg ("pool-info", 0, jsonrpc_request (1, "pool.info", json_object ()));
  emit_msg ("volume-create", 0, jsonrpc_request
            (2, "volume.create", json_pack ("{s:s, s:I, s:i}", "name", "db",
                                            "size", (json_int_t) 1 << 30,
                                            "cluster_size", 65536)));
  emit_msg ("volume-list", 7, jsonrpc_request
            (3, "volume.list", json_pack ("{s:s}", "name", "db")));
  emit_msg ("volume-delete", 0, jsonrpc_request
            (4, "volume.delete", json_pack ("{s:s}", "name", "db")));
  emit_msg ("snapshot-create", 0, jsonrpc_request
            (5, "snapshot.create",
             json_pack ("{s:[s,s], s:s, s:s}", "volumes", "db", "logs",
                        "label", "nightly \u00e9t\u00e9 \"quoted\"\\",
                        "set_id", set)));
  emit_msg ("snapshot-list", 0, jsonrpc_request
            (6, "snapshot.list", json_pack ("{s:s}", "volume", "db")));
  emit_msg ("snapshot-delete", 0, jsonrpc_request
            (7, "snapshot.delete", json_pack ("{s:s}", "id", set)));
  emit_msg ("hold-begin", 3, jsonrpc_request
            (8, "hold.begin", json_pack ("{s:[s], s:i, s:i}", "volumes", "db",
                                         "timeout_ms", 10000,
                                         "wait_ms", 5000)));
  emit_msg ("hold-commit", 0, jsonrpc_request
            (9, "hold.commit", json_pack ("{s:s, s:s, s:s}", "hold_id", set,
                                          "set_id", set, "label", "x")));
  emit_msg ("hold-release", 0, jsonrpc_request
            (10, "hold.release", json_pack ("{s:s}", "hold_id", set)));

  /* Answers (the builders do not take the id's reference). */
  id = must_json (json_integer (2));
  emit_msg ("result-volume", 0, jsonrpc_result (id, volume_object ()));
  json_decref (id);
  id = must_json (json_string ("req-11"));
  emit_msg ("result-list", 1, jsonrpc_result
            (id, json_pack ("[o, o]", volume_object (), volume_object ())));
  json_decref (id);
  id = must_json (json_integer (12));
  emit_msg ("error-errno", 0, jsonrpc_error
            (id, SV_RPC_NOT_FOUND, jsonrpc_errno_data (ENOENT),
             "no volume named %s", "db"));
  json_decref (id);
  emit_msg ("error-null-id", 0, jsonrpc_error
            (NULL, JSONRPC_PARSE_ERROR, NULL, "invalid JSON at byte %d: %s",
             3, "'[' or '{' expected near 'x'"));
  id = must_json (json_integer (13));
  emit_msg ("error-invalid-utf8", 0, jsonrpc_error
            (id, JSONRPC_METHOD_NOT_FOUND, NULL,
             "unknown method %s", "caf\xc3\xa9\xff\xfe"));
  json_decref (id);

  /* A stream of several messages with blank and CRLF lines. */
  id = must_json (json_integer (20));
  append_msg (&s, &n, jsonrpc_request (20, "pool.info", NULL));
  append_msg (&s, &n, jsonrpc_result (id, json_true ()));
  json_decref (id);
  append_msg (&s, &n, jsonrpc_request (21, "volume.list", json_object ()));
  {
    static const char more[] = "\n  \t\r\n{\"jsonrpc\":\"2.0\",\"method\":"
      "\"hold.release\",\"params\":{\"hold_id\":\"x\"}}\r\n";
    char *ns = realloc (s, n + sizeof more - 1);
    if (ns == NULL)
      die ("out of memory");
    memcpy (ns + n, more, sizeof more - 1);
    s = ns;
    n += sizeof more - 1;
  }
  emit_stream ("stream", 5, s, n);
  emit_stream ("stream-unterminated", 0, s, n - 2);
  free (s);

  /* Hand-written edge cases: each must be answered, not crash. */
  {
    static const struct { const char *name, *text; } edge[] = {
      { "notification",
        "{\"jsonrpc\":\"2.0\",\"method\":\"pool.info\"}\n" },
      { "batch", "[{\"jsonrpc\":\"2.0\",\"method\":\"pool.info\",\"id\":1}]\n" },
      { "not-object", "\"jsonrpc\"\n42\nnull\n" },
      { "bad-json", "{\"jsonrpc\":\"2.0\",\"method\":\xff\"\n{\"a\":\n" },
      { "duplicate-key",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"m\"}\n" },
      { "escapes",
        "{\"jsonrpc\":\"2.0\",\"id\":\"\\ud83d\\ude00\",\"method\":"
        "\"\\u0041\\n\\t\\\"\",\"params\":[1.5e300,-0.0,true,null]}\n" },
      { "nul-escape",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\\u0000b\"}\n" },
      { "big-integer",
        "{\"jsonrpc\":\"2.0\",\"id\":99999999999999999999,\"method\":\"m\"}\n" },
      { "wrong-types",
        "{\"jsonrpc\":2.0,\"id\":1,\"method\":\"m\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"m\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":3}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"parms\":{}}\n" },
      { "bad-responses",
        "{\"jsonrpc\":\"2.0\",\"id\":1}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":1}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":\"x\"}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,"
        "\"message\":\"m\",\"extra\":0}}\n" },
      { "nested",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":"
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}\n" },
    };
    size_t i;

    for (i = 0; i < sizeof edge / sizeof edge[0]; i++)
      emit_stream (edge[i].name, (uint8_t) i, edge[i].text,
                   strlen (edge[i].text));
  }
  /* Chunking byte 0xff: behind a line longer than the limit. */
  {
    static const char text[] = "{\"jsonrpc\":\"2.0\",\"method\":\"m\"}\n";
    emit_stream ("oversize", 0xff, text, sizeof text - 1);
  }
}

static void
make_dir (const char *corpus)
{
  char path[4096];

  snprintf (path, sizeof path, "%s/%s", outdir, corpus);
  if (mkdir (path, 0755) == -1 && errno != EEXIST)
    die ("mkdir: %s: %m", path);
}

int
main (int argc, char *argv[])
{
  if (argc != 2) {
    fprintf (stderr, "usage: gen-corpus DIR\n");
    return EXIT_FAILURE;
  }
  outdir = argv[1];
  if (mkdir (outdir, 0755) == -1 && errno != EEXIST)
    die ("mkdir: %s: %m", outdir);
  make_dir ("journal");
  make_dir ("checkpoint");
  make_dir ("jsonrpc");
  journal_seeds ();
  checkpoint_seeds ();
  jsonrpc_seeds ();
  return EXIT_SUCCESS;
}
