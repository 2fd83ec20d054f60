#!/bin/sh
# `make deb`: builds dist/check-vm_<version>_all.deb from this checkout, then
# runs lintian on it. Idempotent; installs its build dependencies (as root)
# when they are missing. The build works on a copy of the tree under
# build/deb, so the checkout gets no debian/ build debris.
set -eu
cd "$(dirname "$0")/.."

BUILD_PACKAGES="debhelper dh-python python3 lintian"
BUILD_DIR=build/deb
DIST=dist

. scripts/packages.sh
install_packages $BUILD_PACKAGES

version=$(dpkg-parsechangelog -S Version)
source="$BUILD_DIR/check-vm-$version"
rm -rf "$BUILD_DIR"
mkdir -p "$source" "$DIST"
# Everything but what set-up, tests and earlier builds leave behind.
tar -cf - --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist \
    --exclude='__pycache__' --exclude=./.pytest_cache --exclude=./.ruff_cache \
    --exclude=./.hypothesis --exclude=./.mypy_cache . | tar -xf - -C "$source"

(cd "$source" && dpkg-buildpackage -b -us -uc) >"$BUILD_DIR/build.log" 2>&1 || {
    tail -n 30 "$BUILD_DIR/build.log" >&2
    exit 1
}
deb="check-vm_${version}_all.deb"
mv "$BUILD_DIR/$deb" "$DIST/$deb"
echo "deb: $DIST/$deb"

# lintian's errors fail the build; its warnings are listed (and explained in
# docs/packaging.md).
lintian --tag-display-limit 0 "$DIST/$deb" | tee "$BUILD_DIR/lintian.txt"
if grep -q '^E:' "$BUILD_DIR/lintian.txt"; then
    echo "deb: lintian reports errors" >&2
    exit 1
fi
