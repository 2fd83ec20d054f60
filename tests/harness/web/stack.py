"""The whole web stack under one directory: start in order, stop by PID, ask what is left.

Start order, each step waited for: MariaDB (databases, Icinga Web 2's and the
IDO's schemas, the login user), carbon-cache and graphite-web (the graphing
tier's), Icinga Web 2's config dir and the Director's schema (`director
migration run`), the icinga2 master and agents (connected, the IDO written),
Apache. The Director's kickstart, baskets and imports are the caller's.
`root` must be a directory every user may pass through (not under pytest's
0700 base directory): the daemons run as mysql, nagios, www-data and _director.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from pathlib import Path

from harness.graphs.databases import CarbonCache, GraphiteWeb
from harness.polling import wait_for

from . import icingaweb
from .apache import Apache
from .director import DirectorCli
from .icingaweb import WebSettings, readable_by_all
from .mariadb import DB_PASSWORD, DB_USER, MariaDB
from .nodes import DIRECTOR_API_USER, NAGIOS, IcingaCluster, WebNode, chown_tree, master_extra
from .processes import Snapshot

IDO_SCHEMA = Path("/usr/share/dbconfig-common/data/icinga2-ido-mysql/install/mysql")
IDO_TIMEOUT = 30


class WebStack:
    """Icinga Web 2 with the Director over an icinga2 master and one agent per hypervisor.

    `hypervisors`: agent endpoint name -> the libvirt URI its checks use;
    `import_dir`: the fileshipper import source's directory.
    """

    def __init__(self, root: Path, hypervisors: dict[str, str], import_dir: Path) -> None:
        self.root = root
        self.hypervisors = dict(hypervisors)
        self.import_dir = import_dir
        self.login = icingaweb.ADMIN
        self.timings: dict[str, float] = {}
        readable_by_all(root)
        self.config_dir = root / "icingaweb2"
        self.db = MariaDB(root / "mariadb")
        self.carbon = CarbonCache(root / "carbon")
        self.graphite = GraphiteWeb(root / "graphite-web", self.carbon)
        self.state_dir = root / "state"
        self._director_password = secrets.token_hex(16)
        self.icinga = IcingaCluster(root / "icinga2", list(self.hypervisors), self.state_dir,
                                    master_extra(self._director_password, self._ido(),
                                                 self.carbon.line_port))
        self.apache = Apache(root / "apache", self.config_dir)
        self.director = DirectorCli(self.config_dir, root, self.db.sql)
        self.snapshot = Snapshot()
        self._sessions: set[int] = set()
        self.nodes: dict[str, object] = {}  # the caller's hypervisors, by agent, if it keeps them

    @property
    def base_url(self) -> str:
        return self.apache.base_url

    @property
    def graphite_url(self) -> str:
        return self.graphite.url

    @property
    def master(self) -> WebNode:
        return self.icinga.master

    @property
    def agents(self) -> dict[str, WebNode]:
        return self.icinga.agents

    def sql(self, database: str, query: str) -> list[tuple[str, ...]]:
        """Rows of `query` (mariadb -N -B) in one of the stack's databases."""
        return self.db.sql(database, query)

    def start(self) -> None:
        """Everything up, in order, each step waited for."""
        self.snapshot = Snapshot()
        self._timed("mariadb", self._start_database)
        self._timed("carbon-cache", self.carbon.start)
        self._timed("graphite-web", self.graphite.start)
        self._timed("icingaweb2 config + director schema", self._configure_web)
        self._timed("icinga2 certificates and config", self._set_up_icinga)
        self._timed("icinga2 master and agents", self._start_icinga)
        self._timed("apache", self.apache.start)

    def stop(self) -> None:
        """Everything down by PID, the last started first; each step whatever the
        others did."""
        for step in (self.director.stop_daemon, self.apache.stop, self.icinga.stop,
                     self.graphite.stop, self.carbon.stop, self.db.stop):
            with contextlib.suppress(Exception):
                step()

    def sessions(self) -> set[int]:
        """The sessions of every daemon the stack started (each leads its own)."""
        return self._sessions | self.director.sessions

    def _remember_sessions(self) -> None:
        daemons = (self.db, self.carbon, self.graphite, self.apache)
        self._sessions |= {daemon.session for daemon in daemons if daemon.session}
        self._sessions |= {node.pid for node in self.icinga.nodes if node.running()}

    def listening_beyond_loopback(self) -> list[str]:
        return self.snapshot.beyond_loopback(self.sessions())

    def left_running(self) -> list[str]:
        return self.snapshot.left_running(self.sessions())

    def _timed(self, what: str, step) -> None:
        began = time.monotonic()
        try:
            step()
        finally:
            self._remember_sessions()
        self.timings[what] = round(time.monotonic() - began, 2)

    def _ido(self) -> dict[str, str]:
        return {"port": str(self.db.port), "user": DB_USER, "password": DB_PASSWORD,
                "database": "icinga2ido"}

    def _start_database(self) -> None:
        self.db.start()
        for name in ("icingaweb2", "director"):
            self.db.create_database(name)
        self.db.create_database("icinga2ido", charset="latin1")
        self.db.load("icinga2ido", IDO_SCHEMA)
        icingaweb.load_schema_and_admin(self.db)

    def _configure_web(self) -> None:
        readable_by_all(self.import_dir)
        icingaweb.write_config_dir(self.config_dir, WebSettings(
            db_port=self.db.port, api_port=self.master.api_port, api_user=DIRECTOR_API_USER,
            api_password=self._director_password, graphite_url=self.graphite.url,
            import_dir=self.import_dir))
        self.director.run("migration", "run")

    def _set_up_icinga(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        chown_tree(self.state_dir, NAGIOS, NAGIOS)
        self.icinga.set_up()

    def _start_icinga(self) -> None:
        self.icinga.start()
        wait_for(self._ido_written, IDO_TIMEOUT, "the master's program status in the IDO",
                 self.master.log_tail, interval=0.2)

    def _ido_written(self) -> bool:
        rows = self.sql("icinga2ido", "SELECT is_currently_running FROM icinga_programstatus")
        return rows == [("1",)]
