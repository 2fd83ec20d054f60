"""Icinga Web 2's configuration directory of the stack (ICINGAWEB_CONFIGDIR).

Nothing in /etc/icingaweb2 is read or changed: Apache and icingacli get this
directory through ICINGAWEB_CONFIGDIR. It enables the modules the stack uses,
points the resources at the stack's MariaDB, the monitoring module at the IDO
and the master's API, the graphite module at graphite-web (its templates: a
subdirectory linking to the installed package's), the fileshipper at the
import directory, and holds the Director's kickstart.ini. Logging goes to
PHP's error log (Apache's error log, icingacli's stderr), so no log file has
to be writable by both www-data and the Director's user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .mariadb import DB_PASSWORD, DB_USER, MariaDB

MODULES = ("director", "fileshipper", "graphite", "incubator", "reactbundle", "monitoring")
MODULE_PATH = Path("/usr/share/icingaweb2/modules")
PACKAGE_GRAPHS = Path("/usr/share/check-vm/graphs/icingaweb2")
GROUP = "icingaweb2"
SCHEMA = Path("/usr/share/icingaweb2/schema/mysql.schema.sql")
ADMIN = ("admin", "admin")
IMPORT_SECTION = "check_vm"


@dataclass
class WebSettings:
    """What the configuration points at."""

    db_port: int
    api_port: int
    api_user: str
    api_password: str
    graphite_url: str
    import_dir: Path


def ini(sections: dict[str, dict[str, str]]) -> str:
    """An INI file of Icinga Web's kind: every value double-quoted."""
    return "\n".join(f"[{name}]\n" + "".join(f'{key} = "{value}"\n' for key, value in items.items())
                     for name, items in sections.items())


def resource(port: int, database: str, charset: str) -> dict[str, str]:
    return {"type": "db", "db": "mysql", "host": "127.0.0.1", "port": str(port),
            "dbname": database, "username": DB_USER, "password": DB_PASSWORD,
            "charset": charset}


def config_files(settings: WebSettings) -> dict[str, str]:
    """Path under the config dir -> text."""
    api = {"host": "127.0.0.1", "port": str(settings.api_port)}
    return {
        "config.ini": ini({"global": {"show_stacktraces": "1", "config_backend": "db",
                                      "config_resource": "icingaweb_db",
                                      "module_path": str(MODULE_PATH)},
                           "logging": {"log": "php", "level": "ERROR"}}),
        "resources.ini": ini({"icingaweb_db": resource(settings.db_port, "icingaweb2", "utf8mb4"),
                              "director_db": resource(settings.db_port, "director", "utf8"),
                              "icinga_ido": resource(settings.db_port, "icinga2ido", "latin1")}),
        "authentication.ini": ini({"icingaweb2": {"backend": "db", "resource": "icingaweb_db"}}),
        "groups.ini": ini({"icingaweb2": {"backend": "db", "resource": "icingaweb_db"}}),
        "roles.ini": ini({"Administrators": {"users": ADMIN[0], "permissions": "*"}}),
        "modules/director/config.ini": ini({"db": {"resource": "director_db"}}),
        "modules/director/kickstart.ini": ini({"config": {
            "endpoint": "master", **api, "username": settings.api_user,
            "password": settings.api_password}}),
        "modules/monitoring/backends.ini": ini({"icinga": {"type": "ido",
                                                           "resource": "icinga_ido"}}),
        "modules/monitoring/commandtransports.ini": ini({"icinga2": {
            "transport": "api", **api, "username": settings.api_user,
            "password": settings.api_password}}),
        "modules/graphite/config.ini": ini({"graphite": {"url": settings.graphite_url}}),
        "modules/fileshipper/imports.ini": ini({IMPORT_SECTION: {
            "basedir": str(settings.import_dir)}}),
    }


def write_config_dir(config_dir: Path, settings: WebSettings) -> None:
    """The whole directory, group icingaweb2 (www-data; the Director's daemon runs
    with that group), nobody else."""
    for module in MODULES:
        link = config_dir / "enabledModules" / module
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(MODULE_PATH / module)
    templates = config_dir / "modules" / "graphite" / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    if not (templates / "check_vm").is_symlink():
        (templates / "check_vm").symlink_to(PACKAGE_GRAPHS)
    for name, text in config_files(settings).items():
        path = config_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for path in (config_dir, *config_dir.rglob("*")):
        if not path.is_symlink():
            shutil.chown(path, "root", GROUP)
            path.chmod(0o2770 if path.is_dir() else 0o660)


def load_schema_and_admin(db: MariaDB) -> None:
    """Icinga Web 2's schema, and the login ADMIN as an Administrator."""
    db.load("icingaweb2", SCHEMA)
    hashed = subprocess.run(["php", "-r", 'echo password_hash($argv[1], PASSWORD_DEFAULT);',
                             ADMIN[1]], capture_output=True, text=True, check=True,
                            timeout=30).stdout
    db.sql("icingaweb2", "INSERT INTO icingaweb_user (name, active, password_hash) "
                         f"VALUES ('{ADMIN[0]}', 1, '{hashed}')")


def readable_by_all(directory: Path) -> None:
    """A directory others can read, and every ancestor they can pass through."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    for parent in directory.parents:
        if not os.stat(parent).st_mode & 0o001:
            raise RuntimeError(f"{directory}: {parent} is closed to other users "
                               "(the stack's daemons run as their own users)")
