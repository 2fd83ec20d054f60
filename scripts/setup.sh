#!/bin/sh
# Idempotent set-up: Debian packages that building libvirt-python needs,
# then .venv with the project and its test extra installed.
set -eu
cd "$(dirname "$0")/.."

BUILD_PACKAGES="libvirt-dev pkg-config gcc"
PYTHON="${PYTHON:-python3}"
VENV=.venv

. scripts/packages.sh

if command -v dpkg-query >/dev/null 2>&1; then
    install_packages $BUILD_PACKAGES
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"

stamp="$VENV/.installed-$(cat pyproject.toml | cksum | cut -d' ' -f1)"
if [ ! -e "$stamp" ]; then
    echo "setup: installing the project into $VENV"
    if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]' \
            >"$VENV/pip.log" 2>&1; then
        cat "$VENV/pip.log" >&2
        exit 1
    fi
    rm -f "$VENV"/.installed-*
    touch "$stamp"
fi

# Byte-compile the library: a plugin starts hundreds of times a minute, and
# without .pyc files (PYTHONDONTWRITEBYTECODE, an unwritable checkout) every
# start would compile it again.
"$VENV/bin/python" -m compileall -q libcheck >/dev/null
