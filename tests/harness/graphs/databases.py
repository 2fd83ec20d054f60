"""Debian's real time-series databases, each a private daemon on 127.0.0.1.

- CarbonCache: `carbon-cache --nodaemon --config=<root>/carbon.conf start`.
  carbon reads storage-schemas.conf from the directory of its carbon.conf, so
  both live under `root`, with every directory it writes (storage, whisper,
  logs, PID file). Its line, pickle and cache-query receivers get free
  loopback ports; UDP, tags (which would call graphite-web on port 80) and
  carbon's own metrics are off; updates and creates are not rate-limited, so
  a point is in its whisper file within the writer's 1 s pass.
- GraphiteWeb: Debian's entry point `graphite-manage runserver --noreload
  127.0.0.1:<port>` (Django's development server, one process), with a
  settings module of the tier's (GRAPHITE_SETTINGS_MODULE on PYTHONPATH) that
  reads the carbon's whisper directory and asks its cache (CARBONLINK_HOSTS)
  for points not yet written. The render and find APIs need no database;
  find is asked for `format=json`, since its default (treejson) reads a
  user profile from Django's database.
- InfluxDB: `influxd -config <root>/influxdb.conf` (1.6): meta, data and WAL
  under `root`, HTTP and the RPC bind address (8088 by default) on free
  loopback ports, no usage reporting, no _internal monitor database.
"""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

from harness.polling import poll

from .process import Daemon, clean_environment, free_ports, port_answers

HTTP_TIMEOUT = 15
READ_TIMEOUT = 15

# (name, pattern, retentions), first match wins: 1 s resolution for Icinga's series.
DEFAULT_SCHEMAS = (
    ("icinga2", r"^icinga2\.", "1s:1h"),
    ("default", r".*", "10s:6h"),
)

Targets = Union[str, Sequence[str]]


def http_get(url: str, timeout: float = HTTP_TIMEOUT) -> bytes:
    """The body of a GET that must answer 2xx."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def http_post(url: str, body: bytes, content_type: str, timeout: float = HTTP_TIMEOUT) -> bytes:
    """The body of a POST that must answer 2xx; an HTTPError carries the server's text."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"POST {url}: {exc.code}: {exc.read().decode(errors='replace')}") \
            from exc


def answers(url: str) -> bool:
    """Whether a GET of `url` answers 2xx within a second."""
    try:
        http_get(url, timeout=1)
    except (OSError, ValueError):
        return False
    return True


class CarbonCache(Daemon):
    """carbon-cache with its whisper files under `root/storage/whisper`."""

    name = "carbon-cache"

    def __init__(self, root: Path, schemas: Sequence[tuple[str, str, str]] = DEFAULT_SCHEMAS):
        super().__init__(root)
        self.schemas = schemas
        self.line_port, self.pickle_port, self.query_port = free_ports(3)
        self.storage_dir = root / "storage"
        self.whisper_dir = self.storage_dir / "whisper"
        self.config_path = root / "carbon.conf"

    def prepare(self) -> None:
        for directory in (self.whisper_dir, self.root / "log", self.root / "run"):
            directory.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self._config())
        self.config_path.with_name("storage-schemas.conf").write_text("".join(
            f"[{name}]\npattern = {pattern}\nretentions = {retentions}\n\n"
            for name, pattern, retentions in self.schemas))

    def _config(self) -> str:
        return f"""\
[cache]
STORAGE_DIR = {self.storage_dir}/
LOCAL_DATA_DIR = {self.whisper_dir}/
WHITELISTS_DIR = {self.storage_dir}/lists/
LOG_DIR = {self.root}/log/
PID_DIR = {self.root}/run/
USER =
DATABASE = whisper
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = {self.line_port}
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = {self.pickle_port}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = {self.query_port}
ENABLE_UDP_LISTENER = False
ENABLE_MANHOLE = False
ENABLE_TAGS = False
CARBON_METRIC_INTERVAL = 0
LOG_UPDATES = False
LOG_CACHE_HITS = False
LOG_CACHE_QUEUE_SORTS = False
LOG_LISTENER_CONN_SUCCESS = False
"""

    def command(self) -> list[str]:
        return ["/usr/bin/carbon-cache", "--nodaemon", f"--config={self.config_path}", "start"]

    def ready(self) -> bool:
        return all(map(port_answers, self.ports()))

    def ports(self) -> set[int]:
        return {self.line_port, self.pickle_port, self.query_port}

    def send(self, points: Iterable[tuple[str, float, int]]) -> None:
        """(metric, value, timestamp) points in carbon's plaintext protocol."""
        text = "".join(f"{metric} {value!r} {timestamp}\n" for metric, value, timestamp in points)
        with socket.create_connection(("127.0.0.1", self.line_port), HTTP_TIMEOUT) as line:
            line.sendall(text.encode())

    def whisper_path(self, metric: str) -> Path:
        return self.whisper_dir.joinpath(*metric.split(".")).with_suffix(".wsp")

    def whisper_points(self, metric: str, since: int) -> dict[int, float]:
        """timestamp -> value of what the metric's whisper file holds since `since`
        (none while carbon has not created it)."""
        path = self.whisper_path(metric)
        if not path.exists():
            return {}
        result = subprocess.run(["/usr/bin/whisper-fetch", "--json", f"--from={since}", str(path)],
                                capture_output=True, text=True, timeout=HTTP_TIMEOUT, check=True,
                                env=clean_environment())
        fetched = json.loads(result.stdout)
        return {fetched["start"] + index * fetched["step"]: value
                for index, value in enumerate(fetched["values"]) if value is not None}

    def wait_for_whisper(self, metric: str, timestamp: int,
                         timeout: float = READ_TIMEOUT) -> Optional[float]:
        """The value stored at `timestamp` once carbon has written it (bounded wait);
        None if it has not within `timeout`."""
        def stored() -> Optional[tuple[float]]:
            try:
                points = self.whisper_points(metric, timestamp - 1)
            except subprocess.CalledProcessError:  # a file carbon is still creating
                return None
            return (points[timestamp],) if timestamp in points else None

        found = poll(stored, timeout, interval=0.2)
        return found[0] if found else None


class GraphiteWeb(Daemon):
    """graphite-web's render and find APIs over a CarbonCache's whisper files."""

    name = "graphite-web"
    SETTINGS_MODULE = "check_vm_graphite_settings"

    def __init__(self, root: Path, carbon: CarbonCache) -> None:
        super().__init__(root)
        self.carbon = carbon
        [self.port] = free_ports(1)
        self.python_dir = root / "python"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def prepare(self) -> None:
        for directory in (self.python_dir, self.root / "storage", self.root / "log"):
            directory.mkdir(parents=True, exist_ok=True)
        (self.python_dir / f"{self.SETTINGS_MODULE}.py").write_text(self._settings())

    def _settings(self) -> str:
        whisper = f"{self.carbon.whisper_dir}/"
        return f"""\
SECRET_KEY = "check-vm-graphs-tier"
ALLOWED_HOSTS = ["127.0.0.1"]
TIME_ZONE = "UTC"
DEFAULT_XFILES_FACTOR = 0
LOG_ROTATION = False
CONF_DIR = {str(self.root)!r}
STORAGE_DIR = {str(self.root / "storage")!r}
LOG_DIR = {str(self.root / "log")!r}
INDEX_FILE = {str(self.root / "storage" / "index")!r}
WHISPER_DIR = {whisper!r}
STANDARD_DIRS = [{whisper!r}]
STORAGE_FINDERS = ("graphite.finders.standard.StandardFinder",)
CARBONLINK_HOSTS = ["127.0.0.1:{self.carbon.query_port}"]
TAGDB = ""
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3",
                         "NAME": {str(self.root / "storage" / "graphite.db")!r}}}}}
"""

    def command(self) -> list[str]:
        return ["/usr/bin/graphite-manage", "runserver", "--noreload", f"127.0.0.1:{self.port}"]

    def environment(self) -> dict[str, str]:
        return clean_environment(DJANGO_SETTINGS_MODULE="graphite.settings",
                                 GRAPHITE_SETTINGS_MODULE=self.SETTINGS_MODULE,
                                 PYTHONPATH=str(self.python_dir))

    def ready(self) -> bool:
        return answers(f"{self.url}/metrics/find?query=*&format=json")

    def ports(self) -> set[int]:
        return {self.port}

    def _get(self, path: str, params: dict) -> bytes:
        return http_get(f"{self.url}{path}?{urllib.parse.urlencode(params, doseq=True)}")

    def find(self, query: str) -> list[str]:
        """The paths (leaves and branches) the metrics/find API matches for `query`."""
        nodes = json.loads(self._get("/metrics/find", {"query": query, "format": "json"}))
        return sorted(node["path"] for node in nodes)

    def render_json(self, target: Targets, from_: str = "-10min", until: str = "now",
                    **params: str) -> list[dict]:
        """The render API's series: [{"target": ..., "datapoints": [[value, time], ...]}]."""
        query = {"target": target, "from": from_, "until": until, "format": "json", **params}
        return json.loads(self._get("/render", query))

    def render_png(self, target: Targets, path: Path, width: int = 800, height: int = 300,
                   title: str = "", from_: str = "-10min", until: str = "now",
                   **params: str) -> Path:
        """A PNG of the render API written to `path`."""
        query = {"target": target, "from": from_, "until": until, "format": "png",
                 "width": width, "height": height, "title": title, **params}
        path.write_bytes(self._get("/render", query))
        return path


class InfluxDB(Daemon):
    """influxd 1.6 with its meta, data and WAL under `root`."""

    name = "influxd"
    # The database Icinga 2's InfluxdbWriter writes to by default.
    DATABASE = "icinga2"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.http_port, self.rpc_port = free_ports(2)
        self.config_path = root / "influxdb.conf"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def prepare(self) -> None:
        self.config_path.write_text(f"""\
reporting-enabled = false
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{self.root}/meta"
[data]
  dir = "{self.root}/data"
  wal-dir = "{self.root}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{self.http_port}"
  log-enabled = false
  pprof-enabled = false
[logging]
  level = "warn"
  suppress-logo = true
""")

    def command(self) -> list[str]:
        return ["/usr/bin/influxd", "-config", str(self.config_path)]

    def ready(self) -> bool:
        return answers(f"{self.url}/ping")

    def ports(self) -> set[int]:
        return {self.http_port, self.rpc_port}

    def query(self, influxql: str, database: Optional[str] = None, epoch: str = "s") -> dict:
        """POST /query; the decoded answer. A statement's error raises RuntimeError."""
        params = {"q": influxql, "epoch": epoch, **({"db": database} if database else {})}
        answer = json.loads(http_post(f"{self.url}/query", urllib.parse.urlencode(params).encode(),
                                      "application/x-www-form-urlencoded"))
        errors = [result["error"] for result in answer.get("results", []) if "error" in result]
        if "error" in answer or errors:
            raise RuntimeError(f"{influxql}: {answer.get('error') or errors}")
        return answer

    def create_database(self, name: str = DATABASE) -> None:
        self.query(f'CREATE DATABASE "{name}"')

    def write(self, lines: str, database: str = DATABASE, precision: str = "s") -> None:
        """POST /write of line protocol (timestamps in `precision`)."""
        query = urllib.parse.urlencode({"db": database, "precision": precision})
        http_post(f"{self.url}/write?{query}", lines.encode(), "text/plain; charset=utf-8")

    def series(self, influxql: str, database: str = DATABASE) -> list[dict]:
        """The series of one SELECT: [{"name", "tags"?, "columns", "values"}]."""
        [result] = self.query(influxql, database)["results"]
        return result.get("series", [])
