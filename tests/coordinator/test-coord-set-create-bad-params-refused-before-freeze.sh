#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The snapvol authors.
#
# test-coord-set-create-bad-params-refused-before-freeze.sh: set.create
# parameters a provider would refuse (a label with a control
# character, a label too long, a hold lease over the protocol's limit)
# are refused by the coordinator with -32602 naming the parameter,
# before anything is recorded: no writer is called (nothing frozen),
# no provider is called (nothing held), and no set is in the catalog.
# The rule is the providers' own (common/proto.c), so a label they
# accept is accepted here too.

source "$(dirname "$0")/functions.sh"
set -x

conf_hold_timeout=60s
write_conf
start_coordinator
start_peer storage-a storage-a provider --volume db:1048576
start_peer writer-db writer-db writer --volume storage-a/db

# refused PARAMS MESSAGE: set.create with PARAMS is answered -32602
# with MESSAGE.
refused ()
{
    local out
    out=$(rpc backup set.create "$1")
    assert_eq "$(jget "$out" '[j["error"]["code"], j["error"]["message"]]')" \
        "$(jget "[-32602, $(jget "{\"m\": \"$2\"}" 'json.dumps(j["m"])')]" 'j')" \
        "set.create $1"
}

refused '{"volumes":["storage-a/db"],"label":"night\nly"}' \
    "'label' contains a control character (0x0a) at byte 5: a label is printable text"
refused '{"volumes":["storage-a/db"],"label":"\u0001"}' \
    "'label' contains a control character (0x01) at byte 0: a label is printable text"
refused '{"volumes":["storage-a/db"],"label":"tab\there"}' \
    "'label' contains a control character (0x09) at byte 3: a label is printable text"
refused '{"volumes":["storage-a/db"],"label":"del\u007f"}' \
    "'label' contains a control character (0x7f) at byte 3: a label is printable text"
refused "{\"volumes\":[\"storage-a/db\"],\"label\":\"$(printf 'x%.0s' {1..257})\"}" \
    "'label' is longer than 256 bytes"
refused '{"volumes":["storage-a/db"],"label":7}' \
    "'label' must be a string"
refused '{"volumes":["storage-a/db"],"hold_timeout_ms":60001}' \
    "'hold_timeout_ms' must be in 1..60000, not 60001"
refused '{"volumes":["storage-a/.db"]}' \
    "'volumes': 'storage-a/.db' is not of the form PROVIDER/VOLUME"
refused '{"volumes":["storage-a/db"],"writers":["writer db"]}' \
    "'writers[0]' is not a writer name"

# Nothing was frozen, held or recorded.
assert_eq "$(calls writer-db)" "" "calls to the writer"
assert_eq "$(calls storage-a)" "" "calls to the provider"
assert_eq "$(jget "$(rpc backup set.list)" 'j["result"]')" "[]" "sets in the catalog"
assert_eq "$(jget "$(rpc backup writer.list)" '[[w["name"], w["state"], w["last_event"]] for w in j["result"]]')" \
    '[["writer-db", "stable", null]]' "the writer's state"

# A label of printable text, UTF-8 included, at the limit, is taken.
label="nightly é $(printf 'y%.0s' {1..245})"
out=$(rpc backup set.create "{\"volumes\":[\"storage-a/db\"],\"label\":\"$label\"}")
assert_eq "$(jget "$out" '[j["result"]["state"], j["result"]["label"]]')" \
    "$(jget "[\"committed\", \"$label\"]" 'j')" "a set with a printable label"
assert_eq "$(calls writer-db | tr '\n' ' ')" \
    "writer.prepare writer.freeze writer.thaw writer.post_snapshot " "calls to the writer"

stop_peer writer-db
stop_peer storage-a
stop_coordinator
