"""Apache with Icinga Web 2: prefork and mod_php, its own config, 127.0.0.1 and a free port.

`apache2 -f CONF -D FOREGROUND` in a session of its own (its SIGTERM shutdown
signals its whole process group), the master as root and the children as
www-data. Nothing of /etc/apache2's enabled sites or modules is loaded, so
Debian's default site on port 80 never starts. It is ready when the login
page answers 200 (with the `_chc=1` cookie Icinga Web sets to see that
cookies work; without it the page redirects).
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from pathlib import Path

from harness.graphs.process import Daemon, free_ports

USER = "www-data"
PUBLIC = "/usr/share/icingaweb2/public"
MODULES = ("mpm_prefork:mod_mpm_prefork.so", "authz_core:mod_authz_core.so",
           "alias:mod_alias.so", "dir:mod_dir.so", "env:mod_env.so", "mime:mod_mime.so",
           "rewrite:mod_rewrite.so", "php:libphp8.2.so")


def status_of(url: str, timeout: float = 5) -> int:
    """The HTTP status of a GET of `url` with Icinga Web's cookie check answered."""
    request = urllib.request.Request(url, headers={"Cookie": "_chc=1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


class Apache(Daemon):
    """Icinga Web 2 at http://127.0.0.1:<port>/icingaweb2 with `config_dir`."""

    name = "apache2"

    def __init__(self, root: Path, config_dir: Path) -> None:
        super().__init__(root)
        [self.port] = free_ports(1)
        self.config_dir = config_dir
        self.config_path = root / "apache2.conf"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/icingaweb2"

    def prepare(self) -> None:
        for name in ("run", "log"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        shutil.chown(self.root / "log", USER, USER)
        self.config_path.write_text(self._config())

    def _config(self) -> str:
        run, log = self.root / "run", self.root / "log"
        modules = "".join(f"LoadModule {name}_module /usr/lib/apache2/modules/{so}\n"
                          for name, so in (module.split(":") for module in MODULES))
        return f"""\
ServerRoot "/etc/apache2"
ServerName 127.0.0.1
Listen 127.0.0.1:{self.port}
PidFile {run}/apache2.pid
Mutex file:{run} default
DefaultRuntimeDir {run}
User {USER}
Group {USER}
ErrorLog {log}/error.log
LogLevel warn
{modules}StartServers 2
MinSpareServers 1
MaxSpareServers 4
MaxRequestWorkers 8
TypesConfig /etc/mime.types
LogFormat "%h %l %u %t \\"%r\\" %>s %b %D" timed
CustomLog {log}/access.log timed
DocumentRoot {PUBLIC}
<FilesMatch "\\.php$">
    SetHandler application/x-httpd-php
</FilesMatch>
DirectoryIndex index.php
Alias /icingaweb2 "{PUBLIC}"
<Directory "{PUBLIC}">
    Options SymLinksIfOwnerMatch
    AllowOverride None
    Require all granted
    SetEnv ICINGAWEB_CONFIGDIR "{self.config_dir}"
    EnableSendfile Off
    RewriteEngine on
    RewriteBase /icingaweb2/
    RewriteCond %{{REQUEST_FILENAME}} -s [OR]
    RewriteCond %{{REQUEST_FILENAME}} -l [OR]
    RewriteCond %{{REQUEST_FILENAME}} -d
    RewriteRule ^.*$ - [NC,L]
    RewriteRule ^.*$ index.php [NC,L]
</Directory>
"""

    def command(self) -> list[str]:
        return ["/usr/sbin/apache2", "-f", str(self.config_path), "-D", "FOREGROUND"]

    def ready(self) -> bool:
        try:
            return status_of(f"{self.base_url}/authentication/login", timeout=2) == 200
        except OSError:
            return False

    def ports(self) -> set[int]:
        return {self.port}

    def error_log_tail(self, lines: int = 30) -> str:
        path = self.root / "log" / "error.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
