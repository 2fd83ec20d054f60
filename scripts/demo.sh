#!/bin/sh
# Runs every check twice against libvirt's built-in test driver (no
# hypervisor needed): the first run samples twice itself, the second
# measures against the state the first one saved.
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
    for attempt in 1 2; do
        run ".venv/bin/$check" --connect "$URI" --domain "$DOMAIN" --state-dir "$STATE_DIR"
    done
    run ".venv/bin/$check" --connect "$URI" --domain "$DOMAIN" --state-dir "$STATE_DIR" \
        --warning 40 --critical 90 -v
done
