/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * ctl-pool.c: snapvolctl pool commands.
 */

#include <config.h>

#include <stdio.h>

#include "ctl.h"
#include "humansize.h"
#include "output.h"

static int
pool_info (struct ctl *ctl, const struct ctl_args *a)
{
  json_t *res = ctl_call (ctl, "pool.info", json_object ());
  char size[HUMANSIZE_BUFLEN];
  int r = CTL_EXIT_OK;

  if (res == NULL)
    return CTL_EXIT_FAILURE;
  if (!json_is_object (res))
    r = ctl_bad_answer (ctl, "the result is not an object");
  else if (ctl->json)
    r = out_json (res) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
  else
    printf ("Directory:             %s\n"
            "Server version:        %s\n"
            "Default cluster size:  %s\n"
            "Volumes:               %ju\n",
            out_str (res, "dir"), out_str (res, "version"),
            out_size (res, "default_cluster_size", size, sizeof size),
            (uintmax_t) out_u64 (res, "volumes"));
  json_decref (res);
  return r;
}

const struct ctl_command ctl_pool_commands[] = {
  { "pool", "info", "",
    "Show the pool's directory, server version and default cluster size.",
    0, 0, { NULL }, pool_info, 0, false },
  { NULL },
};
