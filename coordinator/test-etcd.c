/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-etcd.c: the etcd client (etcd.c) against a real etcd with
 * client TLS, started by tests/coordinator/test-etcd-client.sh, which
 * passes it in ETCD_TEST_ENDPOINT, ETCD_TEST_CA, ETCD_TEST_CERT and
 * ETCD_TEST_KEY.  Skipped (77) without them.
 */

#include <config.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "etcd.h"

static const char *endpoint, *ca, *cert, *key;

static struct etcd *
open_with (const char *const *endpoints, size_t n)
{
  struct etcd_conf conf = {
    .endpoints = endpoints, .nendpoints = n,
    .ca = ca, .certificate = cert, .key = key, .timeout_ms = 2000,
  };
  char err[512];
  struct etcd *e = etcd_open (&conf, err, sizeof err);

  if (e == NULL)
    fail_msg ("etcd_open: %s", err);
  return e;
}

static struct etcd *
open_live (void)
{
  return open_with (&endpoint, 1);
}

/* A URL on 127.0.0.1 at a port nobody listens on. */
static char *
dead_endpoint (void)
{
  struct sockaddr_in sin = { .sin_family = AF_INET };
  socklen_t len = sizeof sin;
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  char *url;

  sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  assert_true (fd >= 0);
  assert_int_equal (bind (fd, (struct sockaddr *) &sin, sizeof sin), 0);
  assert_int_equal (getsockname (fd, (struct sockaddr *) &sin, &len), 0);
  close (fd);
  assert_true (asprintf (&url, "https://127.0.0.1:%d",
                         ntohs (sin.sin_port)) > 0);
  return url;
}

/* A URL on 127.0.0.1 where the kernel completes TCP connections but
 * nobody ever answers (listening, never accepting); *FD its socket. */
static char *
silent_endpoint (int *fd)
{
  struct sockaddr_in sin = { .sin_family = AF_INET };
  socklen_t len = sizeof sin;
  char *url;

  *fd = socket (AF_INET, SOCK_STREAM, 0);
  sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  assert_true (*fd >= 0);
  assert_int_equal (bind (*fd, (struct sockaddr *) &sin, sizeof sin), 0);
  assert_int_equal (listen (*fd, 8), 0);
  assert_int_equal (getsockname (*fd, (struct sockaddr *) &sin, &len), 0);
  assert_true (asprintf (&url, "https://127.0.0.1:%d",
                         ntohs (sin.sin_port)) > 0);
  return url;
}

static void
put (struct etcd *e, const char *k, const char *v)
{
  char err[512];

  if (etcd_put (e, k, v, strlen (v), 0, err, sizeof err) == -1)
    fail_msg ("put %s: %s", k, err);
}

static void
test_put_then_get_returns_value_and_revisions (void **state)
{
  struct etcd *e = open_live ();
  struct etcd_kv kv;
  int64_t rev, rev2;
  bool found;
  char err[512];

  put (e, "/t/get/a", "hello");
  assert_int_equal (etcd_get (e, "/t/get/a", &kv, &found, &rev, err,
                              sizeof err), 0);
  assert_true (found);
  assert_string_equal (kv.key, "/t/get/a");
  assert_int_equal (kv.len, 5);
  assert_string_equal ((char *) kv.value, "hello");
  assert_true (kv.create_revision > 0);
  assert_int_equal (kv.mod_revision, kv.create_revision);
  assert_int_equal (kv.lease, 0);
  assert_int_equal (rev, kv.mod_revision);
  etcd_kv_free (&kv);

  /* A second put keeps create_revision and moves mod_revision. */
  put (e, "/t/get/a", "");
  assert_int_equal (etcd_get (e, "/t/get/a", &kv, &found, &rev2, err,
                              sizeof err), 0);
  assert_true (found);
  assert_int_equal (kv.len, 0);
  assert_string_equal ((char *) kv.value, "");
  assert_int_equal (kv.mod_revision, rev + 1);
  assert_int_equal (kv.create_revision, rev);
  etcd_kv_free (&kv);

  assert_int_equal (etcd_get (e, "/t/get/absent", &kv, &found, NULL, err,
                              sizeof err), 0);
  assert_false (found);
  assert_null (kv.key);
  etcd_close (e);
}

static void
test_binary_values_round_trip (void **state)
{
  struct etcd *e = open_live ();
  unsigned char bin[1000];
  struct etcd_kv kv;
  bool found;
  char err[512];
  size_t i;

  for (i = 0; i < sizeof bin; i++)
    bin[i] = (unsigned char) (i * 7);
  assert_int_equal (etcd_put (e, "/t/bin", bin, sizeof bin, 0, err,
                              sizeof err), 0);
  assert_int_equal (etcd_get (e, "/t/bin", &kv, &found, NULL, err,
                              sizeof err), 0);
  assert_true (found);
  assert_int_equal (kv.len, sizeof bin);
  assert_memory_equal (kv.value, bin, sizeof bin);
  etcd_kv_free (&kv);
  etcd_close (e);
}

static void
test_range_is_ordered_bounded_and_limited (void **state)
{
  struct etcd *e = open_live ();
  struct etcd_kv *kvs;
  int64_t rev;
  char err[512];
  size_t n;

  put (e, "/t/range/3", "c");
  put (e, "/t/range/1", "a");
  put (e, "/t/range/2", "b");
  put (e, "/t/rangf", "outside");
  put (e, "/t/range", "the prefix itself");

  assert_int_equal (etcd_range (e, "/t/range/", NULL, 0, &kvs, &n, &rev,
                                err, sizeof err), 0);
  assert_int_equal (n, 3);
  assert_string_equal (kvs[0].key, "/t/range/1");
  assert_string_equal (kvs[1].key, "/t/range/2");
  assert_string_equal (kvs[2].key, "/t/range/3");
  assert_string_equal ((char *) kvs[2].value, "c");
  assert_true (rev >= kvs[2].mod_revision);
  etcd_kvs_free (kvs, n);

  assert_int_equal (etcd_range (e, "/t/range/", "/t/range/2", 0, &kvs, &n,
                                NULL, err, sizeof err), 0);
  assert_int_equal (n, 2);
  assert_string_equal (kvs[0].key, "/t/range/2");
  etcd_kvs_free (kvs, n);

  assert_int_equal (etcd_range (e, "/t/range/", NULL, 1, &kvs, &n, NULL,
                                err, sizeof err), 0);
  assert_int_equal (n, 1);
  assert_string_equal (kvs[0].key, "/t/range/1");
  etcd_kvs_free (kvs, n);

  assert_int_equal (etcd_range (e, "/t/nothing/", NULL, 0, &kvs, &n, NULL,
                                err, sizeof err), 0);
  assert_int_equal (n, 0);
  assert_null (kvs);
  etcd_close (e);
}

static void
test_last_key_and_delete_range (void **state)
{
  struct etcd *e = open_live ();
  struct etcd_kv kv, *kvs;
  struct etcd_op op = { .kind = ETCD_DELETE_RANGE, .key = "/t/dr/2",
                        .range_end = "/t/dr/4" };
  bool found, ok;
  char err[512];
  size_t n;

  put (e, "/t/dr/1", "a");
  put (e, "/t/dr/2", "b");
  put (e, "/t/dr/3", "c");
  put (e, "/t/dr/4", "d");
  put (e, "/t/ds", "outside");
  assert_int_equal (etcd_last_key (e, "/t/dr/", &kv, &found, err,
                                   sizeof err), 0);
  assert_true (found);
  assert_string_equal (kv.key, "/t/dr/4");
  assert_int_equal (kv.len, 0);
  etcd_kv_free (&kv);
  assert_int_equal (etcd_txn (e, NULL, 0, &op, 1, &ok, NULL, err,
                              sizeof err), 0);
  assert_true (ok);
  assert_int_equal (etcd_range (e, "/t/dr/", NULL, 0, &kvs, &n, NULL,
                                err, sizeof err), 0);
  assert_int_equal (n, 2);
  assert_string_equal (kvs[0].key, "/t/dr/1");
  assert_string_equal (kvs[1].key, "/t/dr/4");
  etcd_kvs_free (kvs, n);
  assert_int_equal (etcd_last_key (e, "/t/nothing/", &kv, &found, err,
                                   sizeof err), 0);
  assert_false (found);
  etcd_close (e);
}

static void
test_txn_applies_all_or_nothing (void **state)
{
  struct etcd *e = open_live ();
  struct etcd_kv kv;
  struct etcd_cmp cmp[2];
  struct etcd_op ops[2];
  int64_t rev, txnrev;
  bool ok, found;
  char err[512];

  /* Create only if absent: the first succeeds, the second does not. */
  memset (cmp, 0, sizeof cmp);
  memset (ops, 0, sizeof ops);
  cmp[0] = (struct etcd_cmp) { .key = "/t/txn/x", .target = ETCD_CREATE,
                               .revision = 0 };
  ops[0] = (struct etcd_op) { .kind = ETCD_PUT, .key = "/t/txn/x",
                              .value = "one", .len = 3 };
  ops[1] = (struct etcd_op) { .kind = ETCD_PUT, .key = "/t/txn/y",
                              .value = "two", .len = 3 };
  assert_int_equal (etcd_txn (e, cmp, 1, ops, 2, &ok, &txnrev, err,
                              sizeof err), 0);
  assert_true (ok);
  assert_int_equal (etcd_get (e, "/t/txn/y", &kv, &found, &rev, err,
                              sizeof err), 0);
  assert_true (found);
  assert_int_equal (kv.mod_revision, txnrev);
  etcd_kv_free (&kv);

  ops[0].value = "changed";
  ops[0].len = 7;
  ops[1].value = "changed";
  ops[1].len = 7;
  assert_int_equal (etcd_txn (e, cmp, 1, ops, 2, &ok, &txnrev, err,
                              sizeof err), 0);
  assert_false (ok);
  assert_int_equal (txnrev, rev);
  assert_int_equal (etcd_get (e, "/t/txn/y", &kv, &found, NULL, err,
                              sizeof err), 0);
  assert_string_equal ((char *) kv.value, "two");
  etcd_kv_free (&kv);

  /* VALUE and CREATE compares together, then a prefix delete. */
  assert_int_equal (etcd_get (e, "/t/txn/x", &kv, &found, NULL, err,
                              sizeof err), 0);
  cmp[0] = (struct etcd_cmp) { .key = "/t/txn/x", .target = ETCD_VALUE,
                               .value = "one", .len = 3 };
  cmp[1] = (struct etcd_cmp) { .key = "/t/txn/x", .target = ETCD_CREATE,
                               .revision = kv.create_revision };
  ops[0] = (struct etcd_op) { .kind = ETCD_DELETE_PREFIX, .key = "/t/txn/" };
  cmp[0].value = "uno";
  assert_int_equal (etcd_txn (e, cmp, 2, ops, 1, &ok, NULL, err,
                              sizeof err), 0);
  assert_false (ok);
  cmp[0].value = "one";
  cmp[1].revision = kv.create_revision + 1;
  assert_int_equal (etcd_txn (e, cmp, 2, ops, 1, &ok, NULL, err,
                              sizeof err), 0);
  assert_false (ok);
  cmp[1].revision = kv.create_revision;
  assert_int_equal (etcd_txn (e, cmp, 2, ops, 1, &ok, NULL, err,
                              sizeof err), 0);
  assert_true (ok);
  etcd_kv_free (&kv);
  assert_int_equal (etcd_get (e, "/t/txn/x", &kv, &found, NULL, err,
                              sizeof err), 0);
  assert_false (found);
  assert_int_equal (etcd_get (e, "/t/txn/y", &kv, &found, NULL, err,
                              sizeof err), 0);
  assert_false (found);

  /* MOD compare. */
  put (e, "/t/txn/m", "1");
  assert_int_equal (etcd_get (e, "/t/txn/m", &kv, &found, NULL, err,
                              sizeof err), 0);
  cmp[0] = (struct etcd_cmp) { .key = "/t/txn/m", .target = ETCD_MOD,
                               .revision = kv.mod_revision };
  ops[0] = (struct etcd_op) { .kind = ETCD_DELETE, .key = "/t/txn/m" };
  etcd_kv_free (&kv);
  assert_int_equal (etcd_txn (e, cmp, 1, ops, 1, &ok, NULL, err,
                              sizeof err), 0);
  assert_true (ok);
  etcd_close (e);
}

static void
test_error_answered_by_etcd_names_endpoint_and_etcd_text (void **state)
{
  struct etcd *e = open_live ();
  struct etcd_op ops[129];
  char keys[129][32], err[512], want[512];
  bool ok;
  size_t i;

  for (i = 0; i < 129; i++) {
    snprintf (keys[i], sizeof keys[i], "/t/many/%03zu", i);
    ops[i] = (struct etcd_op) { .kind = ETCD_PUT, .key = keys[i],
                                .value = "v", .len = 1 };
  }
  errno = 0;
  assert_int_equal (etcd_txn (e, NULL, 0, ops, 129, &ok, NULL, err,
                              sizeof err), -1);
  assert_int_equal (errno, EIO);
  snprintf (want, sizeof want, "etcd txn: %s: HTTP 400: "
            "etcdserver: too many operations in txn request", endpoint);
  assert_string_equal (err, want);
  etcd_close (e);
}

static void
test_lease_keepalive_revoke_and_expiry (void **state)
{
  struct etcd *e = open_live ();
  struct etcd_kv kv;
  int64_t lease, ttl;
  bool found;
  char err[512];
  int i;

  assert_int_equal (etcd_lease_grant (e, 5, &lease, err, sizeof err), 0);
  assert_true (lease != 0);
  assert_int_equal (etcd_put (e, "/t/lease/k", "v", 1, lease, err,
                              sizeof err), 0);
  assert_int_equal (etcd_get (e, "/t/lease/k", &kv, &found, NULL, err,
                              sizeof err), 0);
  assert_true (found);
  assert_int_equal (kv.lease, lease);
  etcd_kv_free (&kv);
  assert_int_equal (etcd_lease_keepalive (e, lease, &ttl, err, sizeof err),
                    0);
  assert_int_equal (ttl, 5);
  assert_int_equal (etcd_lease_revoke (e, lease, err, sizeof err), 0);
  assert_int_equal (etcd_get (e, "/t/lease/k", &kv, &found, NULL, err,
                              sizeof err), 0);
  assert_false (found);
  assert_int_equal (etcd_lease_keepalive (e, lease, &ttl, err, sizeof err),
                    0);
  assert_int_equal (ttl, 0);
  /* Revoking it again is not an error. */
  assert_int_equal (etcd_lease_revoke (e, lease, err, sizeof err), 0);

  /* A lease nobody keeps alive expires and takes its key along. */
  assert_int_equal (etcd_lease_grant (e, 1, &lease, err, sizeof err), 0);
  assert_int_equal (etcd_put (e, "/t/lease/e", "v", 1, lease, err,
                              sizeof err), 0);
  for (i = 0; i < 200; i++) {
    struct timespec ts = { 0, 50 * 1000 * 1000 };

    assert_int_equal (etcd_get (e, "/t/lease/e", &kv, &found, NULL, err,
                                sizeof err), 0);
    etcd_kv_free (&kv);
    if (!found)
      break;
    nanosleep (&ts, NULL);
  }
  assert_false (found);
  assert_int_equal (etcd_lease_keepalive (e, lease, &ttl, err, sizeof err),
                    0);
  assert_int_equal (ttl, 0);
  etcd_close (e);
}

static void
test_dead_first_endpoint_is_skipped_and_remembered (void **state)
{
  char *dead = dead_endpoint ();
  const char *list[2] = { dead, endpoint };
  struct etcd *e = open_with (list, 2);
  struct etcd_kv kv;
  bool found;
  char err[512];

  assert_string_equal (etcd_endpoint (e), dead);
  put (e, "/t/failover", "ok");
  assert_string_equal (etcd_endpoint (e), endpoint);
  assert_int_equal (etcd_get (e, "/t/failover", &kv, &found, NULL, err,
                              sizeof err), 0);
  assert_true (found);
  assert_string_equal ((char *) kv.value, "ok");
  etcd_kv_free (&kv);
  etcd_close (e);
  free (dead);
}

static void
test_silent_endpoint_times_out_then_next_answers (void **state)
{
  int fd;
  char *silent = silent_endpoint (&fd);
  const char *list[2] = { silent, endpoint };
  struct etcd_conf conf = {
    .endpoints = list, .nendpoints = 2,
    .ca = ca, .certificate = cert, .key = key, .timeout_ms = 300,
  };
  struct etcd *e;
  struct etcd_kv kv;
  struct timespec t0, t1;
  bool found;
  char err[1024], want[256];
  int64_t ms;

  e = etcd_open (&conf, err, sizeof err);
  assert_non_null (e);
  put (e, "/t/silent", "answered");
  assert_string_equal (etcd_endpoint (e), endpoint);
  assert_int_equal (etcd_get (e, "/t/silent", &kv, &found, NULL, err,
                              sizeof err), 0);
  assert_string_equal ((char *) kv.value, "answered");
  etcd_kv_free (&kv);
  etcd_close (e);

  /* Alone, it fails with ETIMEDOUT after about the timeout. */
  conf.nendpoints = 1;
  e = etcd_open (&conf, err, sizeof err);
  clock_gettime (CLOCK_MONOTONIC, &t0);
  assert_int_equal (etcd_get (e, "/t/silent", &kv, &found, NULL, err,
                              sizeof err), -1);
  assert_int_equal (errno, ETIMEDOUT);
  clock_gettime (CLOCK_MONOTONIC, &t1);
  ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  assert_true (ms >= 250 && ms < 5000);
  snprintf (want, sizeof want, "etcd get /t/silent: no endpoint answered: "
            "%s: ", silent);
  assert_memory_equal (err, want, strlen (want));
  assert_non_null (strstr (err, "timed out"));
  etcd_close (e);
  close (fd);
  free (silent);
}

static void
test_no_endpoint_answering_names_every_endpoint (void **state)
{
  char *dead1 = dead_endpoint (), *dead2 = dead_endpoint ();
  const char *list[2] = { dead1, dead2 };
  struct etcd *e = open_with (list, 2);
  struct etcd_kv kv;
  bool found;
  char err[1024], want[256];

  errno = 0;
  assert_int_equal (etcd_get (e, "/t/x", &kv, &found, NULL, err,
                              sizeof err), -1);
  assert_int_equal (errno, ECONNREFUSED);
  snprintf (want, sizeof want, "etcd get /t/x: no endpoint answered: %s: ",
            dead1);
  assert_memory_equal (err, want, strlen (want));
  snprintf (want, sizeof want, "; %s: ", dead2);
  assert_non_null (strstr (err, want));
  etcd_close (e);
  free (dead1);
  free (dead2);
}

static void
test_open_refuses_bad_endpoints (void **state)
{
  const char *http = "http://127.0.0.1:2379", *noport = "https://127.0.0.1";
  struct etcd_conf conf = { .endpoints = &http, .nendpoints = 1 };
  char err[512];

  assert_null (etcd_open (&conf, err, sizeof err));
  assert_int_equal (errno, EINVAL);
  assert_string_equal (err, "etcd endpoint http://127.0.0.1:2379: "
                       "not https://HOST:PORT");
  conf.endpoints = &noport;
  assert_null (etcd_open (&conf, err, sizeof err));
  assert_string_equal (err, "etcd endpoint https://127.0.0.1: "
                       "not https://HOST:PORT");
  conf.nendpoints = 0;
  assert_null (etcd_open (&conf, err, sizeof err));
  assert_string_equal (err, "etcd: no endpoint given");
}

static void
test_wrong_ca_fails_tls_with_reason (void **state)
{
  struct etcd_conf conf = {
    .endpoints = &endpoint, .nendpoints = 1,
    .ca = "/etc/ssl/certs/ca-certificates.crt", .certificate = cert,
    .key = key, .timeout_ms = 2000,
  };
  struct etcd *e;
  struct etcd_kv kv;
  bool found;
  char err[1024];

  e = etcd_open (&conf, err, sizeof err);
  assert_non_null (e);
  assert_int_equal (etcd_get (e, "/t/x", &kv, &found, NULL, err,
                              sizeof err), -1);
  assert_int_equal (errno, EPROTO);
  assert_non_null (strstr (err, "no endpoint answered"));
  assert_non_null (strstr (err, endpoint));
  etcd_close (e);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_open_refuses_bad_endpoints),
    cmocka_unit_test (test_put_then_get_returns_value_and_revisions),
    cmocka_unit_test (test_binary_values_round_trip),
    cmocka_unit_test (test_range_is_ordered_bounded_and_limited),
    cmocka_unit_test (test_last_key_and_delete_range),
    cmocka_unit_test (test_txn_applies_all_or_nothing),
    cmocka_unit_test (test_error_answered_by_etcd_names_endpoint_and_etcd_text),
    cmocka_unit_test (test_lease_keepalive_revoke_and_expiry),
    cmocka_unit_test (test_dead_first_endpoint_is_skipped_and_remembered),
    cmocka_unit_test (test_silent_endpoint_times_out_then_next_answers),
    cmocka_unit_test (test_no_endpoint_answering_names_every_endpoint),
    cmocka_unit_test (test_wrong_ca_fails_tls_with_reason),
  };

  endpoint = getenv ("ETCD_TEST_ENDPOINT");
  ca = getenv ("ETCD_TEST_CA");
  cert = getenv ("ETCD_TEST_CERT");
  key = getenv ("ETCD_TEST_KEY");
  if (endpoint == NULL || ca == NULL || cert == NULL || key == NULL) {
    fprintf (stderr, "test-etcd: SKIP: run by test-etcd-client.sh, "
             "which starts etcd\n");
    return 77;
  }
  return cmocka_run_group_tests (tests, NULL, NULL);
}
