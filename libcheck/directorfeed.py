"""check_vm_director_feed: the inventories of every hypervisor, for the Icinga Director.

The Director's fileshipper import source reads JSON files; this tool writes
them. It reads the domains of each configured hypervisor (check_vm_inventory's
`Inventory`, over a read-only connection, remote ones such as
`qemu+ssh://nagios@hv1/system` included) and publishes two files in one
directory:

- `vms.json`: one row per VM (the inventory's JSON record, with the name of
  its Icinga host as the key column `name`), the VM's hypervisor in
  `hypervisor`, which the shipped sync rule makes the host's zone;
- `hypervisors.json`: one row per hypervisor, with the domains it is now
  expected to run (`vm_expected_domains`, for check_vm_host's drift).

Each file is replaced atomically (a reader sees the old one or the new one,
whole), readable by the web server and the Director's daemon.

A VM is listed once, on one hypervisor, even while a migration shows it on two
(running on the source, paused on the target) or a stale definition is left
behind: a running domain wins, then an active one, then a fresh reading over
one kept from the previous run, then the hypervisor it was listed on before,
then the earlier line of the configuration. A hypervisor that cannot be read
keeps its rows from the previous files, with one line on stderr, so that the
Director's sync never deletes or moves its VMs because of an unreachable host;
the exit status is then 1.

The configuration names one hypervisor a line, `ENDPOINT URI [CHECK_URI]`:
the Icinga endpoint (and zone) of its agent, the URI this tool reads, and the
URI its checks read on the agent (default: URI). `#` starts a comment.

Exit status: 0 all hypervisors read; 1 written, with kept rows for those that
could not be read (or another run held the lock: nothing written); 3 the
files could not be written (a bad configuration, an unwritable directory, a
full disk), one line on stderr, the previous files left whole.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from libcheck import __version__
from libcheck.errors import CheckError
from libcheck.inspector import Inspector
from libcheck.inventory import (
    Hypervisor,
    Inventory,
    expected_entry_of,
    is_object_name,
    json_hypervisor_record,
    json_record,
    object_names,
)
from libcheck.toolcli import ToolParser, fail, reason, say

PROG = "check_vm_director_feed"
VMS_FILE = "vms.json"
HYPERVISORS_FILE = "hypervisors.json"
DEFAULT_CONFIG = "/etc/check-vm/director-feed.conf"
DEFAULT_OUTPUT = "/var/lib/check-vm-director"
EXIT_OK, EXIT_KEPT = 0, 1
# A previous file larger than this is not ours to trust (about 50 000 VMs).
PREVIOUS_LIMIT = 64 * 1024 * 1024
RUNNING = "running"


class FeedError(Exception):
    """What keeps the feed from writing anything, in one line."""


class LockHeld(FeedError):
    """Another run is writing the output directory."""


@dataclass(frozen=True)
class Source:
    """One configured hypervisor: its endpoint, the URI read here, the URI its
    checks read, and its line in the configuration."""

    endpoint: str
    read_uri: str
    check_uri: str
    line: int


@dataclass(frozen=True)
class Reading:
    """What one hypervisor gave: its VM rows, and whether they are fresh (read
    now) or kept from the previous files."""

    source: Source
    rows: tuple[dict, ...]
    fresh: bool


# -- configuration -----------------------------------------------------------------------

def parse_config(text: str, where: str) -> list[Source]:
    """The hypervisors of a configuration text; FeedError naming the line at fault."""
    sources: list[Source] = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) not in (2, 3):
            raise FeedError(f"{where}:{number}: expected ENDPOINT URI [CHECK_URI], "
                            f"found {len(words)} words")
        endpoint, read_uri = words[0], words[1]
        if not is_object_name(endpoint):
            raise FeedError(f"{where}:{number}: {endpoint!r} is no Icinga endpoint name "
                            "(it holds '!' or a control character)")
        if any(source.endpoint == endpoint for source in sources):
            raise FeedError(f"{where}:{number}: hypervisor {endpoint} is listed twice")
        sources.append(Source(endpoint, read_uri, words[2] if len(words) == 3 else read_uri,
                              number))
    if not sources:
        raise FeedError(f"{where}: no hypervisor configured (one a line: ENDPOINT URI)")
    return sources


def read_config(path: str) -> list[Source]:
    """The configuration file's hypervisors."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(1024 * 1024)
    except (OSError, UnicodeDecodeError) as error:
        raise FeedError(f"cannot read the configuration {path}: {reason(error)}") from None
    return parse_config(text, path)


# -- reading the hypervisors ---------------------------------------------------------------

def read_hypervisor(source: Source, opener: Callable[[str], Inspector]) -> tuple[dict, ...]:
    """The VM rows of one hypervisor, every defined domain (shut-off ones too:
    a stopped VM keeps its host); CheckError when it cannot be read."""
    inspector = opener(source.read_uri)
    try:
        domains = list(Inventory(inspector).domains(include_inactive=True))
    finally:
        inspector.close()
    names = object_names(domain.name for domain in domains)
    return tuple(json_record(domain, source.endpoint, source.check_uri, names[domain.name])
                 for domain in domains)


def kept_rows(source: Source, previous: Sequence[dict]) -> tuple[dict, ...]:
    """The rows the previous file held for this hypervisor."""
    return tuple(row for row in previous if row.get("hypervisor") == source.endpoint)


# -- one VM, one hypervisor ----------------------------------------------------------------

def merged(readings: Sequence[Reading], previous: Sequence[dict],
           warn: Callable[[str], None]) -> list[dict]:
    """One row per host name, chosen by `_preference`, sorted by name."""
    before = {row.get("name"): row.get("hypervisor") for row in previous}
    order = {reading.source.endpoint: position for position, reading in enumerate(readings)}
    candidates: dict[str, list[tuple[Reading, dict]]] = {}
    for reading in readings:
        for row in reading.rows:
            candidates.setdefault(row["name"], []).append((reading, row))
    chosen = []
    for name, found in sorted(candidates.items()):
        best = min(found, key=lambda pair: _preference(pair, before.get(name), order))
        if len({row.get("vm_uuid") for _, row in found}) > 1:
            warn(f"two VMs named {name} (different UUIDs) on "
                 f"{', '.join(reading.source.endpoint for reading, _ in found)}: "
                 f"listed on {best[0].source.endpoint} only")
        chosen.append(best[1])
    return chosen


def _preference(pair: tuple[Reading, dict], listed_on: Optional[str],
                order: dict[str, int]) -> tuple:
    reading, row = pair
    endpoint = reading.source.endpoint
    return (row.get("state") != RUNNING, row.get("state") == "shut off", not reading.fresh,
            endpoint != listed_on, order[endpoint])


def hypervisor_rows(sources: Sequence[Source], vms: Sequence[dict]) -> list[dict]:
    """One row per hypervisor: the variables of its Host, with the VMs now listed
    on it as the domains it is expected to run."""
    return [json_hypervisor_record(
                Hypervisor(source.endpoint, source.check_uri),
                [expected_entry_of(str(row.get("vm_name", "")), str(row.get("vm_uuid", "")))
                 for row in vms if row.get("hypervisor") == source.endpoint])
            for source in sources]


# -- the previous files and the new ones -----------------------------------------------------

def read_previous(directory: str, name: str, warn: Callable[[str], None]) -> list[dict]:
    """The rows of a file this tool wrote before; [] (with a warning when
    something is there but unusable: not a regular file, not its rows) otherwise.
    Never follows a symlink, never waits on a FIFO."""
    path = os.path.join(directory, name)
    try:
        raw = _read_regular_file(path, PREVIOUS_LIMIT + 1)
    except FileNotFoundError:
        return []
    except OSError as error:
        warn(f"ignoring the previous {path}: {reason(error)}")
        return []
    try:
        rows = json.loads(raw) if len(raw) <= PREVIOUS_LIMIT else None
    except (ValueError, RecursionError):
        rows = None
    if not isinstance(rows, list) or not all(_is_row(row) for row in rows):
        warn(f"ignoring the previous {path}: not a list of this tool's rows")
        return []
    return rows


def _read_regular_file(path: str, limit: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return handle.read(limit)


def _is_row(row: object) -> bool:
    return (isinstance(row, dict) and isinstance(row.get("name"), str)
            and isinstance(row.get("hypervisor", ""), str))


def publish(directory: str, files: dict[str, Sequence[dict]]) -> None:
    """Replace each named file in `directory` by its rows, atomically, mode 0644:
    every file is written and synced before the first replaces its old one, so
    a failure leaves the previous files as they were."""
    staged: list[tuple[str, str]] = []
    try:
        for name, rows in files.items():
            staged.append((_staged(directory, name, rows), name))
        for temporary, name in staged:
            os.replace(temporary, os.path.join(directory, name))
        _sync_directory(directory)
    finally:
        for temporary, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _staged(directory: str, name: str, rows: Sequence[dict]) -> str:
    """A temporary file of the rows beside `name`, synced; its path."""
    payload = (json.dumps(list(rows), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    fd, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), 0o644)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return temporary


def _sync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def directory_lock(directory: str):
    """The output directory, held by this run alone; FeedError if another holds it."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        raise FeedError(f"cannot open the output directory {directory}: "
                        f"{reason(error)}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(f"another run is writing {directory}: nothing written") from None
        yield
    finally:
        os.close(fd)


# -- the run ------------------------------------------------------------------------------

class Feed:
    """One run: read every hypervisor, merge, publish; `warn` gets each problem."""

    def __init__(self, sources: Sequence[Source], directory: str,
                 opener: Callable[[str], Inspector] = Inspector.open,
                 warn: Optional[Callable[[str], None]] = None, config: str = "") -> None:
        self._sources = list(sources)
        self._directory = directory
        self._opener = opener
        self._warn = warn or (lambda message: say(PROG, message))
        self._config = config

    def run(self) -> int:
        """Write both files; EXIT_OK, or EXIT_KEPT when some rows were kept."""
        with directory_lock(self._directory):
            previous_vms = read_previous(self._directory, VMS_FILE, self._warn)
            readings = [self._reading(source, previous_vms) for source in self._sources]
            vms = merged(readings, previous_vms, self._warn)
            hypervisors = hypervisor_rows(self._sources, vms)
            publish(self._directory, {VMS_FILE: vms, HYPERVISORS_FILE: hypervisors})
        return EXIT_OK if all(reading.fresh for reading in readings) else EXIT_KEPT

    def _reading(self, source: Source, previous: Sequence[dict]) -> Reading:
        try:
            return Reading(source, read_hypervisor(source, self._opener), fresh=True)
        except CheckError as error:
            kept = kept_rows(source, previous)
            self._warn(f"{self._config}:{source.line}: {source.endpoint}: cannot read "
                       f"{source.read_uri}: {error}; keeping its {len(kept)} VMs from the "
                       "previous run")
            return Reading(source, kept, fresh=False)


# -- command line --------------------------------------------------------------------------

def build_parser() -> ToolParser:
    """The options of check_vm_director_feed."""
    parser = ToolParser(prog=PROG, description=(
        "Read the VMs of every configured hypervisor and write them, one VM on one "
        "hypervisor, as JSON files for the Icinga Director's fileshipper import source."))
    parser.add_argument("--config", metavar="FILE", default=DEFAULT_CONFIG,
                        help="the hypervisors, one a line: ENDPOINT URI [CHECK_URI] "
                             f"(default: {DEFAULT_CONFIG})")
    parser.add_argument("--output-dir", metavar="DIR", default=DEFAULT_OUTPUT,
                        help=f"where {VMS_FILE} and {HYPERVISORS_FILE} are written "
                             f"(default: {DEFAULT_OUTPUT})")
    parser.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: Optional[Sequence[str]] = None,
         opener: Callable[[str], Inspector] = Inspector.open) -> None:
    """Entry point of check_vm_director_feed."""
    options = build_parser().parse_args(argv)
    try:
        sources = read_config(options.config)
        status = Feed(sources, options.output_dir, opener, config=options.config).run()
    except LockHeld as error:
        say(PROG, str(error))
        raise SystemExit(EXIT_KEPT) from None
    except FeedError as error:
        fail(PROG, str(error))
    except OSError as error:
        fail(PROG, f"cannot write to {options.output_dir}: {reason(error)}")
    except Exception as error:  # the last line of defence: still one line
        fail(PROG, f"unexpected {type(error).__name__}: {error}")
    raise SystemExit(status)


if __name__ == "__main__":
    main()
