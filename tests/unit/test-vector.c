/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-vector.c: unit tests of common/vector.h: appending, reserving,
 * refusing sizes that overflow, and reset.
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

#include "vector.h"

DEFINE_VECTOR_TYPE (int_vector, int);

struct big {
  char bytes[1024];
};
DEFINE_VECTOR_TYPE (big_vector, struct big);

#define MANY 100000

static void
test_append_many_keeps_every_element_in_order (void **state)
{
  int_vector v = empty_vector;
  size_t grows = 0, lastcap = 0;
  int i;

  (void) state;
  for (i = 0; i < MANY; i++) {
    assert_int_equal (int_vector_append (&v, i * 3), 0);
    assert_true (v.len <= v.cap);
    if (v.cap != lastcap) {
      grows++;
      lastcap = v.cap;
    }
  }
  assert_int_equal (v.len, MANY);
  for (i = 0; i < MANY; i++)
    assert_int_equal (v.ptr[i], i * 3);
  /* Doubling from VECTOR_MIN_CAP: 8 << 14 >= 100000, so 15 sizes. */
  assert_int_equal (grows, 15);
  assert_int_equal (v.cap, (size_t) VECTOR_MIN_CAP << 14);
  int_vector_reset (&v);
}

static void
test_reserve_makes_room_without_changing_len (void **state)
{
  int_vector v = empty_vector;
  int *before;
  int i;

  (void) state;
  assert_int_equal (int_vector_reserve (&v, 0), 0);
  assert_null (v.ptr);
  assert_int_equal (v.cap, 0);

  assert_int_equal (int_vector_reserve (&v, 1000), 0);
  assert_int_equal (v.len, 0);
  assert_int_equal (v.cap, 1000);
  before = v.ptr;
  /* Appending into reserved room never moves the array. */
  for (i = 0; i < 1000; i++)
    assert_int_equal (int_vector_append (&v, i), 0);
  assert_ptr_equal (v.ptr, before);
  assert_int_equal (v.cap, 1000);

  /* A reservation that fits is a no-op. */
  v.len = 10;
  assert_int_equal (int_vector_reserve (&v, 990), 0);
  assert_ptr_equal (v.ptr, before);
  assert_int_equal (v.cap, 1000);

  /* One more than fits doubles. */
  assert_int_equal (int_vector_reserve (&v, 991), 0);
  assert_int_equal (v.cap, 2000);
  assert_int_equal (v.len, 10);
  for (i = 0; i < 10; i++)
    assert_int_equal (v.ptr[i], i);
  int_vector_reset (&v);
}

static void
test_sizes_that_overflow_are_refused (void **state)
{
  big_vector v = empty_vector;
  struct big b;

  (void) state;
  memset (&b, 'x', sizeof b);
  assert_int_equal (big_vector_append (&v, b), 0);
  assert_int_equal (big_vector_append (&v, b), 0);

  /* Elements * element size would not fit in a size_t. */
  errno = 0;
  assert_int_equal (big_vector_reserve (&v, SIZE_MAX / sizeof b), -1);
  assert_int_equal (errno, ENOMEM);
  /* len + n itself wraps. */
  errno = 0;
  assert_int_equal (big_vector_reserve (&v, SIZE_MAX), -1);
  assert_int_equal (errno, ENOMEM);
  errno = 0;
  assert_int_equal (big_vector_reserve (&v, SIZE_MAX - 1), -1);
  assert_int_equal (errno, ENOMEM);

  /* The vector is as it was, and still usable. */
  assert_int_equal (v.len, 2);
  assert_int_equal (v.cap, VECTOR_MIN_CAP);
  assert_int_equal (v.ptr[1].bytes[1023], 'x');
  assert_int_equal (big_vector_append (&v, b), 0);
  assert_int_equal (v.len, 3);
  big_vector_reset (&v);
}

static void
test_doubling_that_overflows_falls_back_to_the_request (void **state)
{
  size_t cap = SIZE_MAX / 2 + 1;        /* doubling wraps */
  void *p;

  (void) state;
  /* The exact request is too big as well: refused, CAP unchanged. */
  errno = 0;
  p = vector_grow (NULL, cap, &cap, 1, 2);
  assert_null (p);
  assert_int_equal (errno, ENOMEM);
  assert_int_equal (cap, SIZE_MAX / 2 + 1);
}

static void
test_reset_frees_and_empties (void **state)
{
  string_vector v = empty_vector;
  char *s;
  size_t i;

  (void) state;
  for (i = 0; i < 20; i++) {
    s = strdup ("name");
    assert_non_null (s);
    assert_int_equal (string_vector_append (&v, s), 0);
  }
  for (i = 0; i < v.len; i++)
    free (v.ptr[i]);
  string_vector_reset (&v);
  assert_null (v.ptr);
  assert_int_equal (v.len, 0);
  assert_int_equal (v.cap, 0);
  /* Reset twice, and reuse after reset. */
  string_vector_reset (&v);
  assert_int_equal (string_vector_append (&v, NULL), 0);
  assert_int_equal (v.len, 1);
  assert_int_equal (v.cap, VECTOR_MIN_CAP);
  string_vector_reset (&v);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_append_many_keeps_every_element_in_order),
    cmocka_unit_test (test_reserve_makes_room_without_changing_len),
    cmocka_unit_test (test_sizes_that_overflow_are_refused),
    cmocka_unit_test (test_doubling_that_overflows_falls_back_to_the_request),
    cmocka_unit_test (test_reset_frees_and_empties),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
