#!/bin/sh
# Runs every check three times against libvirt's built-in test driver (no
# hypervisor needed): the first run samples twice itself, the second
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

for check in check_vm_cpu; do
    run ".venv/bin/$check" --connect "$URI" --domain "$DOMAIN" --state-dir "$STATE_DIR"
    run ".venv/bin/$check" --connect "$URI" --domain "$DOMAIN" --state-dir "$STATE_DIR" -vv
    run ".venv/bin/$check" --connect "$URI" --domain "$DOMAIN" --state-dir "$STATE_DIR" \
        --warning 40 --critical 90 -v
done
