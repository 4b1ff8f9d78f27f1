/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * ctl-check.c: snapvolctl check: the offline pool checker, run on a
 * pool directory that no server has open (no control socket).
 */

#include <config.h>

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ctl.h"
#include "log.h"
#include "output.h"
#include "pool.h"

#define SYNOPSIS "[--repair [--discard-after-corruption]] [--json] DIR"

static void
print_help (void)
{
  printf ("Usage: snapvolctl check " SYNOPSIS "\n"
          "\n"
          "Check the pool in DIR, which must not be served: every checksum,\n"
          "the format versions, the extent maps, snapshots and journals,\n"
          "and the space of the data files.  Each problem is printed on one\n"
          "line naming the volume, the file and the object, then a summary.\n"
          "\n"
          "  --repair   fix what is safe to fix: cut torn journal tails,\n"
          "             punch leaked clusters, reclaim what no view reads,\n"
          "             remove leftovers; say what was changed, and leave\n"
          "             everything else alone\n"
          "  --discard-after-corruption\n"
          "             with --repair: also cut a corrupt journal at its\n"
          "             first bad record, discarding the acknowledged\n"
          "             writes and snapshots recorded from there on (what\n"
          "             is lost is printed); the last resort when no backup\n"
          "             of the journal files exists\n"
          "  --json     print one JSON object: {\"pool\", \"volumes\": [{\"name\",\n"
          "             \"problems\": [{\"kind\", \"message\", \"repairable\"}],\n"
          "             \"repaired\": [{\"kind\", \"message\"}]}], \"problems\",\n"
          "             \"repaired\", \"clean\"}\n"
          "\n"
          "Exit status: 0 if the pool is clean (after --repair: once\n"
          "repaired), 1 if problems were found (or remain), or if DIR could\n"
          "not be checked, 2 if the command line is wrong.\n");
}

static size_t
count_repairable (const struct check_list *l)
{
  size_t i, n = 0;

  for (i = 0; i < l->n; i++)
    n += l->v[i].repairable != 0;
  return n;
}

/* JSON */

static json_t *
list_json (const struct check_list *l, bool problems)
{
  json_t *a = json_array ();
  size_t i;

  for (i = 0; a && i < l->n; i++) {
    json_t *o = problems
      ? json_pack ("{s:s, s:s, s:b}", "kind", l->v[i].kind,
                   "message", l->v[i].message,
                   "repairable", l->v[i].repairable)
      : json_pack ("{s:s, s:s}", "kind", l->v[i].kind,
                   "message", l->v[i].message);
    if (json_array_append_new (a, o) == -1) {
      json_decref (a);
      return NULL;
    }
  }
  return a;
}

static json_t *
report_json (const struct check_report *r)
{
  json_t *vols = json_array ();
  size_t i;

  for (i = 0; vols && i < r->nvolumes; i++) {
    const struct check_volume *v = &r->volumes[i];
    json_t *o = json_pack ("{s:s, s:o*, s:o*}", "name", v->name,
                           "problems", list_json (&v->problems, true),
                           "repaired", list_json (&v->repaired, false));
    if (o == NULL || !json_is_array (json_object_get (o, "problems")) ||
        !json_is_array (json_object_get (o, "repaired")) ||
        json_array_append_new (vols, o) == -1) {
      json_decref (o);
      json_decref (vols);
      return NULL;
    }
  }
  if (vols == NULL)
    return NULL;
  return json_pack ("{s:s, s:o, s:o*, s:o*, s:b}", "pool", r->pool,
                    "volumes", vols,
                    "problems", list_json (&r->problems, true),
                    "repaired", list_json (&r->repaired, false),
                    "clean", r->clean);
}

/* Text */

static void
print_list (const struct check_list *l, bool problems)
{
  size_t i;

  for (i = 0; i < l->n; i++)
    if (problems)
      printf ("%s%s\n", l->v[i].message,
              l->v[i].repairable ? "; repairable" : "");
    else
      printf ("repaired: %s\n", l->v[i].message);
}

static void
print_report (const struct check_report *r, bool repair)
{
  size_t i, nprob = r->problems.n, nrep = count_repairable (&r->problems);
  size_t nfixed = r->repaired.n, nvol = 0;

  print_list (&r->repaired, false);
  for (i = 0; i < r->nvolumes; i++)
    print_list (&r->volumes[i].repaired, false);
  print_list (&r->problems, true);
  for (i = 0; i < r->nvolumes; i++) {
    const struct check_volume *v = &r->volumes[i];
    print_list (&v->problems, true);
    nprob += v->problems.n;
    nrep += count_repairable (&v->problems);
    nfixed += v->repaired.n;
    nvol += v->problems.n > 0;
  }

  printf ("pool %s: %zu volume%s checked", r->pool, r->nvolumes,
          r->nvolumes == 1 ? "" : "s");
  if (repair)
    printf (", %zu repair%s made", nfixed, nfixed == 1 ? "" : "s");
  if (r->clean)
    printf (", clean\n");
  else if (repair)
    printf (", %zu problem%s remain%s\n", nprob, nprob == 1 ? "" : "s",
            nprob == 1 ? "s" : "");
  else if (nrep > 0)
    printf (", %zu problem%s found in %zu volume%s, %zu repairable with"
            " 'snapvolctl check --repair %s'\n", nprob, nprob == 1 ? "" : "s",
            nvol, nvol == 1 ? "" : "s", nrep, r->pool);
  else
    printf (", %zu problem%s found in %zu volume%s, none repairable\n", nprob,
            nprob == 1 ? "" : "s", nvol, nvol == 1 ? "" : "s");
}

/* The command parses its own command line (it has a flag option and
 * needs no socket): A holds it whole, A->argv[0] being "check". */
static int
check_run (struct ctl *ctl, const struct ctl_args *a)
{
  static const struct option longopts[] = {
    { "repair", no_argument, NULL, 'r' },
    { "discard-after-corruption", no_argument, NULL, 'd' },
    { "json", no_argument, NULL, 'j' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct check_report *r;
  bool repair = false, discard = false;
  int opt, status;

  optind = 0;
  opterr = 0;
  while ((opt = getopt_long (a->argc, a->argv, ":jh", longopts, NULL)) != -1) {
    switch (opt) {
    case 'r':
      repair = true;
      break;
    case 'd':
      discard = true;
      break;
    case 'j':
      ctl->json = true;
      break;
    case 'h':
      print_help ();
      return CTL_EXIT_OK;
    default:
      if (optopt > 0)
        return ctl_usage_error (ctl, "unknown option '-%c'", optopt);
      return ctl_usage_error (ctl, "unknown option '%s'",
                              a->argv[optind - 1]);
    }
  }
  if (a->argc - optind != 1)
    return ctl_usage_error (ctl, "%s arguments (expected: " SYNOPSIS ")",
                            a->argc - optind < 1 ? "missing" : "too many");

  if (discard && !repair)
    return ctl_usage_error (ctl, "--discard-after-corruption goes with"
                            " --repair");

  r = check_pool (a->argv[optind], (repair ? CHECK_REPAIR : 0) |
                  (discard ? CHECK_DISCARD_AFTER_CORRUPTION : 0));
  if (r == NULL)
    return ctl_error (ctl, CTL_EXIT_FAILURE, "%s", sv_errmsg ());
  status = r->clean ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
  if (ctl->json) {
    json_t *j = report_json (r);
    if (j == NULL)
      status = ctl_error (ctl, CTL_EXIT_FAILURE, "out of memory");
    else if (out_json (j) == -1)
      status = CTL_EXIT_FAILURE;
    json_decref (j);
  }
  else
    print_report (r, repair);
  check_report_free (r);
  return status;
}

const struct ctl_command ctl_check_commands[] = {
  { "check", "", SYNOPSIS,
    "Check the pool in DIR, which is not served; --repair fixes what is safe.",
    1, 1, { NULL }, check_run, 0, false },
  { NULL },
};
