# Sourced by the set-up scripts: install_packages PACKAGE... installs the
# Debian packages that are missing (as root; otherwise it names them and stops).

missing_packages() {
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" ||
            printf '%s ' "$package"
    done
}

install_packages() {
    missing=$(missing_packages "$@")
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "setup: missing Debian packages: $missing(install them as root)" >&2
        exit 1
    fi
    echo "setup: installing $missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
}
