/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * unit-helpers.c: helpers shared by the engine's unit tests (see
 * unit-helpers.h).
 */

#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "crc32c.h"
#include "ondisk.h"
#include "pool.h"
#include "unit-helpers.h"

void
ut_assert_errmsg_names (const char *what, const char *file, int line)
{
  if (strstr (sv_errmsg (), what) == NULL) {
    print_error ("sv_errmsg() \"%s\" does not name \"%s\"\n",
                    sv_errmsg (), what);
    _fail (file, line);
  }
}

char *
ut_mkdtemp (void)
{
  const char *tmp = getenv ("TMPDIR");
  char *dir;

  assert_true (asprintf (&dir, "%s/snapvol-unit-XXXXXX",
                         tmp && *tmp ? tmp : "/tmp") > 0);
  assert_non_null (mkdtemp (dir));
  return dir;
}

static int
rm_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  return remove (path);
}

void
ut_rmtree (const char *dir)
{
  nftw (dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

struct sv_pool *
ut_pool_open_opts (const char *dir, const struct sv_pool_options *opts,
                   int create)
{
  struct sv_pool *pool = pool_open (dir, opts, create);

  if (pool == NULL)
    fail_msg ("pool_open %s: %s", dir, sv_errmsg ());
  return pool;
}

struct sv_pool *
ut_pool_open (const char *dir, uint64_t checkpoint_bytes, int create)
{
  /* Without reservations, so that the data file's blocks are the
   * data written (the tests count them). */
  struct sv_pool_options opts = {
    .checkpoint_bytes = checkpoint_bytes,
    .prealloc = SV_PREALLOC_NONE,
  };

  return ut_pool_open_opts (dir, &opts, create);
}

void
ut_pool_close (struct sv_pool *pool)
{
  if (pool_close (pool) == -1)
    fail_msg ("pool_close: %s", sv_errmsg ());
}

struct sv_view *
ut_view_open (struct sv_pool *pool, const char *export)
{
  struct sv_view *view = view_open (pool, export);

  if (view == NULL)
    fail_msg ("view_open %s: %s", export, sv_errmsg ());
  return view;
}

/* splitmix64: a cheap, well-mixed function of the word index. */
static uint64_t
mix (uint64_t x)
{
  return ut_mix64 (x);
}

uint64_t
ut_rand (uint64_t *state)
{
  *state += 0x9e3779b97f4a7c15ull;
  return mix (*state);
}

uint64_t
ut_rand_below (uint64_t *state, uint64_t n)
{
  /* The modulo bias is below 2^-40 for the ranges tests use. */
  return ut_rand (state) % n;
}

uint64_t
ut_seed_derive (uint64_t seed, uint64_t n)
{
  return mix (mix (seed) ^ (n * 0xd1342543de82ef95ull));
}

uint64_t
ut_env_u64 (const char *name, uint64_t def)
{
  const char *s = getenv (name);

  return s && *s ? strtoull (s, NULL, 0) : def;
}

int
ut_known_issue (const char *what)
{
  if (ut_env_u64 ("SNAPVOL_TEST_KNOWN_ISSUES", 0))
    return 0;
  print_message ("KNOWN ENGINE ISSUE (reported, see docs/reliability.md):"
                 " %s; skipped (SNAPVOL_TEST_KNOWN_ISSUES=1 runs it)\n",
                 what);
  return 1;
}

static uint64_t
pattern_word (uint64_t word, uint32_t seed)
{
  uint64_t w = mix (word ^ ((uint64_t) seed << 40) ^ seed);

  return w ? w : 1;
}

void
ut_pattern (void *buf, size_t len, uint64_t off, uint32_t seed)
{
  uint8_t *p = buf;
  size_t i = 0;

  while (i < len) {
    uint64_t o = off + i, w = pattern_word (o / 8, seed);
    unsigned b = o % 8;

    for (; b < 8 && i < len; b++, i++)
      p[i] = (uint8_t) (w >> (8 * b));
  }
}

void
ut_write_pattern (struct sv_view *view, uint64_t off, uint32_t len,
                  uint32_t seed, uint8_t *shadow)
{
  uint8_t *buf = malloc (len ? len : 1);

  assert_non_null (buf);
  ut_pattern (buf, len, off, seed);
  if (view_pwrite (view, buf, len, off, 0) == -1)
    fail_msg ("view_pwrite [%" PRIu64 ", +%" PRIu32 "): %s", off, len,
              sv_errmsg ());
  if (shadow)
    memcpy (shadow + off, buf, len);
  free (buf);
}

void
ut_assert_view_reads (struct sv_view *view, uint64_t off, uint32_t len,
                      const void *expected, const char *file, int line)
{
  uint8_t *buf = malloc (len ? len : 1);
  const uint8_t *exp = expected;
  uint32_t i;

  assert_non_null (buf);
  if (view_pread (view, buf, len, off) == -1) {
    print_error ("view_pread [%" PRIu64 ", +%" PRIu32 "): %s\n", off, len,
                    sv_errmsg ());
    free (buf);
    _fail (file, line);
  }
  for (i = 0; i < len; i++)
    if (buf[i] != exp[i]) {
      print_error ("byte %" PRIu64 " reads 0x%02x, expected 0x%02x\n",
                      off + i, buf[i], exp[i]);
      free (buf);
      _fail (file, line);
    }
  free (buf);
}

void
ut_assert_pattern (struct sv_view *view, uint64_t off, uint32_t len,
                   uint32_t seed, const char *file, int line)
{
  uint8_t *exp = malloc (len ? len : 1);

  assert_non_null (exp);
  ut_pattern (exp, len, off, seed);
  ut_assert_view_reads (view, off, len, exp, file, line);
  free (exp);
}

void
ut_assert_zero (struct sv_view *view, uint64_t off, uint32_t len,
                const char *file, int line)
{
  uint8_t *exp = calloc (1, len ? len : 1);

  assert_non_null (exp);
  ut_assert_view_reads (view, off, len, exp, file, line);
  free (exp);
}

void
ut_volume_info (struct sv_pool *pool, const char *name,
                struct sv_volume_info *vi)
{
  struct sv_volume_info *all = NULL;
  size_t n = 0;

  if (pool_volume_list (pool, name, &all, &n) == -1)
    fail_msg ("pool_volume_list %s: %s", name, sv_errmsg ());
  assert_int_equal (n, 1);
  *vi = all[0];
  free (all);
}

void
ut_snapshot_info (struct sv_pool *pool, const char *id,
                  struct sv_snapshot_info *si)
{
  struct sv_snapshot_info *all = NULL;
  size_t n = 0, i;

  if (pool_snapshot_list (pool, NULL, &all, &n) == -1)
    fail_msg ("pool_snapshot_list: %s", sv_errmsg ());
  for (i = 0; i < n; i++)
    if (strcmp (all[i].id, id) == 0) {
      *si = all[i];
      free (all);
      return;
    }
  free (all);
  fail_msg ("snapshot %s is not listed", id);
}

size_t
ut_snapshot_count (struct sv_pool *pool, const char *volume)
{
  struct sv_snapshot_info *all = NULL;
  size_t n = 0;

  if (pool_snapshot_list (pool, volume, &all, &n) == -1)
    fail_msg ("pool_snapshot_list: %s", sv_errmsg ());
  free (all);
  return n;
}

void
ut_volume_file (char *path, size_t len, const char *dir, const char *name,
                const char *file)
{
  snprintf (path, len, "%s/volumes/%s/%s", dir, name, file);
}

uint64_t
ut_data_blocks (const char *dir, const char *name)
{
  char path[4096];
  struct stat st;

  ut_volume_file (path, sizeof path, dir, name, "data");
  if (stat (path, &st) == -1)
    fail_msg ("stat %s: %s", path, strerror (errno));
  return (uint64_t) st.st_blocks * 512;
}

void
ut_snapshot (struct sv_pool *pool, const char *name,
             char id[SV_UUID_STRLEN + 1])
{
  const char *vols[1] = { name };
  char set[SV_UUID_STRLEN + 1];
  struct sv_snap_result res;

  if (pool_snapshot_create (pool, vols, 1, NULL, NULL, set, &res) == -1)
    fail_msg ("pool_snapshot_create %s: %s", name, sv_errmsg ());
  assert_string_equal (res.volume, name);
  memcpy (id, res.id, SV_UUID_STRLEN + 1);
}

static int
collect_extent (void *opaque, uint64_t offset, uint64_t length,
                uint32_t flags)
{
  struct ut_extents *x = opaque;

  if (x->n == UT_MAX_EXTENTS)
    return -1;
  x->e[x->n].offset = offset;
  x->e[x->n].length = length;
  x->e[x->n].flags = flags;
  x->n++;
  return 0;
}

void
ut_extents (struct sv_view *view, uint64_t off, uint32_t count, int req_one,
            struct ut_extents *out)
{
  out->n = 0;
  if (view_extents (view, count, off, req_one, collect_extent, out) == -1)
    fail_msg ("view_extents [%" PRIu64 ", +%" PRIu32 "): %s", off, count,
              sv_errmsg ());
}

uint64_t
ut_file_size (const char *path)
{
  struct stat st;

  if (stat (path, &st) == -1)
    fail_msg ("stat %s: %s", path, strerror (errno));
  return st.st_size;
}

void
ut_file_read (const char *path, void *buf, size_t len, uint64_t off)
{
  int fd = open (path, O_RDONLY);

  if (fd == -1)
    fail_msg ("open %s: %s", path, strerror (errno));
  assert_int_equal (pread (fd, buf, len, off), (ssize_t) len);
  close (fd);
}

void
ut_file_write (const char *path, const void *buf, size_t len, uint64_t off)
{
  int fd = open (path, O_WRONLY | O_CREAT, 0600);

  if (fd == -1)
    fail_msg ("open %s: %s", path, strerror (errno));
  assert_int_equal (pwrite (fd, buf, len, off), (ssize_t) len);
  close (fd);
}

void
ut_file_truncate (const char *path, uint64_t size)
{
  if (truncate (path, size) == -1)
    fail_msg ("truncate %s: %s", path, strerror (errno));
}

void
ut_flip_byte (const char *path, uint64_t off)
{
  uint8_t b;

  ut_file_read (path, &b, 1, off);
  b ^= 0x5a;
  ut_file_write (path, &b, 1, off);
}

void
ut_block_set_le32 (const char *path, size_t off, uint32_t v)
{
  uint8_t blk[SV_BLOCK];

  static const struct ondisk_kind *const kinds[] = {
    &ondisk_pool, &ondisk_super, &ondisk_ckpt, &ondisk_jrnl,
  };
  size_t i;

  ut_file_read (path, blk, sizeof blk, 0);
  put_le32 (blk + off, v);
  for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (memcmp (blk + OFF_MAGIC, kinds[i]->magic, 8) == 0)
      put_le32 (blk + OFF_CRC, ondisk_checksum (blk, kinds[i], 0));
  ut_file_write (path, blk, sizeof blk, 0);
}

void
ut_journal_drop_newest_mark (const char *jpath)
{
  uint8_t slot[2][JM_LEN];
  int newest;

  ut_file_read (jpath, slot[0], JM_LEN, JM_OFF_SLOT0);
  ut_file_read (jpath, slot[1], JM_LEN, JM_OFF_SLOT0 + JM_LEN);
  newest = get_le64 (slot[1] + JM_OFF_COUNT) > get_le64 (slot[0] + JM_OFF_COUNT);
  if (get_le64 (slot[newest] + JM_OFF_COUNT) == 0)
    fail_msg ("%s: no journal mark to drop", jpath);
  memset (slot[newest], 0, JM_LEN);
  ut_file_write (jpath, slot[newest], JM_LEN,
                 JM_OFF_SLOT0 + (uint64_t) newest * JM_LEN);
}

void
ut_last_journal (char *path, size_t len, const char *dir, const char *name)
{
  char vdir[4096], best[64] = "";
  struct dirent *de;
  DIR *d;

  snprintf (vdir, sizeof vdir, "%s/volumes/%s", dir, name);
  d = opendir (vdir);
  if (d == NULL)
    fail_msg ("opendir %s: %s", vdir, strerror (errno));
  while ((de = readdir (d)) != NULL)
    if (strncmp (de->d_name, "journal.", 8) == 0 &&
        strlen (de->d_name) == 24 && strcmp (de->d_name, best) > 0)
      snprintf (best, sizeof best, "%s", de->d_name);
  closedir (d);
  if (best[0] == '\0')
    fail_msg ("no journal file in %s", vdir);
  snprintf (path, len, "%s/%s", vdir, best);
}

/* The gated I/O layer. */

#define GATED_MAX_HANDLES 4096

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int8_t kind[GATED_MAX_HANDLES];       /* -1: neither */
  int armed;                            /* a kind, or -1 */
  int stopped, go;
} gated = {
  .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
  .armed = -1,
};

static int
gated_open (void *o, const char *path, int flags, mode_t mode)
{
  int h = sio_posix.ops->open (sio_posix.opaque, path, flags, mode);
  const char *base = strrchr (path, '/');

  base = base ? base + 1 : path;
  if (h >= 0 && h < GATED_MAX_HANDLES)
    gated.kind[h] = strcmp (base, "data") == 0 ? UT_GATE_DATA
      : strncmp (base, "journal.", 8) == 0 ? UT_GATE_JOURNAL : -1;
  return h;
}

static ssize_t
gated_pwrite (void *o, int h, const void *buf, size_t n, uint64_t off)
{
  if (h >= 0 && h < GATED_MAX_HANDLES) {
    pthread_mutex_lock (&gated.mu);
    if (gated.armed != -1 && gated.kind[h] == gated.armed) {
      gated.armed = -1;
      gated.stopped = 1;
      pthread_cond_broadcast (&gated.cv);
      while (!gated.go)
        pthread_cond_wait (&gated.cv, &gated.mu);
    }
    pthread_mutex_unlock (&gated.mu);
  }
  return sio_posix.ops->pwrite (sio_posix.opaque, h, buf, n, off);
}

static struct sv_io_ops gated_ops;

static void __attribute__((constructor))
gated_init (void)
{
  gated_ops = *sio_posix.ops;
  gated_ops.open = gated_open;
  gated_ops.pwrite = gated_pwrite;
}

const struct sv_io ut_gated_io = { &gated_ops, NULL };

void
ut_gate_arm (enum ut_gate_kind kind)
{
  pthread_mutex_lock (&gated.mu);
  gated.armed = kind;
  gated.stopped = gated.go = 0;
  pthread_mutex_unlock (&gated.mu);
}

void
ut_gate_wait_stopped (void)
{
  pthread_mutex_lock (&gated.mu);
  while (!gated.stopped)
    pthread_cond_wait (&gated.cv, &gated.mu);
  pthread_mutex_unlock (&gated.mu);
}

void
ut_gate_let_go (void)
{
  pthread_mutex_lock (&gated.mu);
  gated.go = 1;
  pthread_cond_broadcast (&gated.cv);
  pthread_mutex_unlock (&gated.mu);
}

void
ut_run_child (int (*fn) (void *arg), void *arg)
{
  pid_t pid;
  int status;

  fflush (NULL);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    _exit (fn (arg) == 0 ? 0 : 1);
  assert_int_equal (waitpid (pid, &status, 0), pid);
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    fail_msg ("child failed (status 0x%x)", status);
}

void
ut_child_check_at (int ok, const char *msg, const char *file, int line)
{
  if (ok)
    return;
  fprintf (stderr, "%s:%d: child: %s: %s\n", file, line, msg, sv_errmsg ());
  _exit (1);
}
