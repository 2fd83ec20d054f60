"""The Debian packages of the web tier, installed when missing, no service started.

One apt-get for everything missing, without recommends: Icinga Web 2 and its
modules, the IDO, MariaDB, Apache with mod_php, Chromium and its driver.
icinga2-ido-mysql's debconf questions are answered first (no dbconfig-common
database, the ido-mysql feature not enabled in the stock /etc/icinga2), since
its postinst would otherwise change the config other tiers use. The Docker-style
policy-rc.d of harness.vm.host holds every daemon back for the duration.
carbon and graphite-web come from the graphing tier's own installer.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from harness.graphs import packages as graph_packages
from harness.vm.host import TierUnavailable, ensure_packages, missing_packages

PACKAGES = (
    "icinga2", "icinga2-ido-mysql", "icingaweb2", "icingacli",
    "icingaweb2-module-director", "icingaweb2-module-fileshipper",
    "icingaweb2-module-graphite", "icingaweb2-module-monitoring",
    "mariadb-server", "mariadb-client", "apache2", "libapache2-mod-php8.2", "php8.2-cli",
    "php8.2-mysql", "php8.2-intl", "php8.2-gd", "php8.2-curl", "php8.2-xml",
    "php8.2-mbstring", "php8.2-yaml", "php8.2-zip", "chromium", "chromium-driver",
)
# What the stack runs of them: each must exist once the packages are in.
TOOLS = ("/usr/sbin/icinga2", "/usr/bin/icingacli", "/usr/sbin/mariadbd", "/usr/bin/mariadb",
         "/usr/bin/mariadb-install-db", "/usr/sbin/apache2", "/usr/bin/php",
         "/usr/bin/chromium", "/usr/bin/chromedriver", "/usr/bin/setpriv")
IDO_PRESEED = """\
icinga2-ido-mysql icinga2-ido-mysql/dbconfig-install boolean false
icinga2-ido-mysql icinga2-ido-mysql/enable boolean false
"""


def check_machine() -> None:
    """TierUnavailable unless this is a Debian host and we are root (the daemons drop
    to their own users)."""
    if os.geteuid() != 0:
        raise TierUnavailable("not root (the stack's daemons run as their packaged users)")
    if not Path("/etc/debian_version").exists():
        raise TierUnavailable("not a Debian host (the stack is Debian's packages)")


def ensure_installed() -> None:
    """Install whatever the stack lacks; TierUnavailable when that is impossible."""
    if missing_packages(PACKAGES):
        _answer_debconf()
    ensure_packages(PACKAGES)
    graph_packages.ensure_installed()
    absent = [tool for tool in TOOLS if not Path(tool).exists()]
    if absent:
        raise TierUnavailable(f"installed the web stack's packages but found no "
                              f"{' '.join(absent)}")


def _answer_debconf() -> None:
    try:
        subprocess.run(["debconf-set-selections"], input=IDO_PRESEED, text=True,
                       capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise TierUnavailable(f"cannot answer icinga2-ido-mysql's questions: {exc}") from exc
