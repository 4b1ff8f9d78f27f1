/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-lockorder.c: the debug build's lock-order check (lockorder.h)
 * lets locks be taken in the order of docs/design.md and aborts,
 * naming both locks and the call site, when one is taken out of order.
 * Built with the check on whatever the configuration.
 */

#include <config.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lockorder.h"

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t admin_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t snap_lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_rwlock_t stripe[2] = {
  PTHREAD_RWLOCK_INITIALIZER, PTHREAD_RWLOCK_INITIALIZER,
};

static void
test_locks_in_order_and_nested_stripes_pass (void **state)
{
  sv_lock (&pool_mu, LOCK_POOL);
  sv_lock (&admin_mu, LOCK_ADMIN);
  sv_rdlock (&snap_lock, LOCK_SNAP);
  sv_wrlock (&stripe[0], LOCK_STRIPE);
  assert_int_equal (sv_trywrlock (&stripe[1], LOCK_STRIPE), 0);
  sv_rwunlock (&stripe[1], LOCK_STRIPE);
  sv_rwunlock (&stripe[0], LOCK_STRIPE);
  sv_rwunlock (&snap_lock, LOCK_SNAP);
  sv_unlock (&admin_mu, LOCK_ADMIN);
  /* Released: a lower rank may be taken again. */
  sv_rdlock (&snap_lock, LOCK_SNAP);
  sv_rwunlock (&snap_lock, LOCK_SNAP);
  sv_unlock (&pool_mu, LOCK_POOL);
  {
    SV_LOCK_FOR_CURRENT_SCOPE (&pool_mu, LOCK_POOL);
    sv_lock (&admin_mu, LOCK_ADMIN);
    sv_unlock (&admin_mu, LOCK_ADMIN);
  }
  /* The scope released pool->mu. */
  assert_int_equal (sv_trylock (&pool_mu, LOCK_POOL), 0);
  sv_unlock (&pool_mu, LOCK_POOL);
}

/* Run FN in a child; its stderr into ERR (LEN bytes); its status. */
static int
run_child (void (*fn) (void), char *err, size_t len)
{
  int fds[2], status;
  ssize_t n;
  pid_t pid;

  assert_int_equal (pipe (fds), 0);
  fflush (NULL);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0) {
    dup2 (fds[1], 2);
    fn ();
    _exit (0);
  }
  close (fds[1]);
  n = read (fds[0], err, len - 1);
  err[n > 0 ? n : 0] = '\0';
  close (fds[0]);
  assert_int_equal (waitpid (pid, &status, 0), pid);
  return status;
}

static void
snap_then_admin (void)
{
  sv_rdlock (&snap_lock, LOCK_SNAP);
  sv_lock (&admin_mu, LOCK_ADMIN);
}

static void
stripe_then_pool (void)
{
  sv_wrlock (&stripe[0], LOCK_STRIPE);
  sv_lock (&pool_mu, LOCK_POOL);
}

static void
test_lock_taken_out_of_order_aborts_naming_both (void **state)
{
  char err[1024];
  int status;

  status = run_child (snap_then_admin, err, sizeof err);
  assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGABRT);
  assert_non_null (strstr (err, "test-lockorder.c:"));
  assert_non_null (strstr (err, "lock order violated: taking vol->admin_mu"
                           " while holding vol->snap_lock"));

  status = run_child (stripe_then_pool, err, sizeof err);
  assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGABRT);
  assert_non_null (strstr (err, "taking pool->mu while holding vol->stripe"));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_locks_in_order_and_nested_stripes_pass),
    cmocka_unit_test (test_lock_taken_out_of_order_aborts_naming_both),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
