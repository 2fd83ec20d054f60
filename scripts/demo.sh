#!/bin/sh
# Runs every check against libvirt's built-in test driver (no hypervisor
# needed), three times: the first run samples twice itself, the second
# measures against the state the first one saved (-vv says so), the third
# shows thresholds.
set -u
cd "$(dirname "$0")/.."

URI="test:///default"
DOMAIN="test"
STATE_DIR="${TMPDIR:-/tmp}/check_vm-demo-$(id -u)"

run() {
    echo "\$ $*"
    "$@"
    echo "(exit code $?)"
    echo
}

three_runs() {
    check=".venv/bin/$1"
    shift
    run "$check" --connect "$URI" --domain "$DOMAIN" --state-dir "$STATE_DIR" "$@"
    run "$check" --connect "$URI" --domain "$DOMAIN" --state-dir "$STATE_DIR" "$@" -vv
    run "$check" --connect "$URI" --domain "$DOMAIN" --state-dir "$STATE_DIR" "$@" \
        --warning 40 --critical 90 -v
}

three_runs check_vm_cpu
three_runs check_vm_disk_io
three_runs check_vm_nic

# The test driver's balloon numbers are never polled: by default the memory
# check says so and falls back to the host-side view...
run .venv/bin/check_vm_mem --connect "$URI" --domain "$DOMAIN" --state-dir "$STATE_DIR"
# ...and --balloon-max-age 0 accepts numbers of any age.
three_runs check_vm_mem --balloon-max-age 0
