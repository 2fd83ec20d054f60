"""check_vm_director_feed as the package's systemd unit runs it, without systemd.

The command line is the installed unit's ExecStart, run as its User and
Group; the output directory is its StateDirectory under /var/lib, made as
systemd makes it (owned by that user, StateDirectoryMode), and the
configuration is the file the unit names. What the tier creates there it
marks and removes at the end; what a killed run left is taken over by its
marks, anything else there is an operator's and the tier refuses to run.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

UNIT = Path("/lib/systemd/system/check-vm-director-feed.service")
TIMEOUT = 120
# What marks the tier's own configuration and state directory as such.
HEADER = "# the web tier's hypervisors"
MARK = ".check-vm-web-tier"


@dataclass(frozen=True)
class Unit:
    """What the unit file says: the command, user, group and state directory."""

    command: list[str]
    user: str
    group: str
    state_directory: Path
    state_mode: int
    config: Path

    @classmethod
    def read(cls, path: Path = UNIT) -> Unit:
        settings = {}
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not line.startswith("#"):
                settings[key.strip()] = value.strip()
        command = shlex.split(settings["ExecStart"])
        return cls(command=command, user=settings["User"], group=settings["Group"],
                   state_directory=Path("/var/lib") / settings["StateDirectory"],
                   state_mode=int(settings["StateDirectoryMode"], 8),
                   config=Path(command[command.index("--config") + 1]))


class Feed:
    """The installed feed: its configuration file and state directory, and its runs."""

    def __init__(self, unit: Unit | None = None) -> None:
        self.unit = unit or Unit.read()
        self._created: list[Path] = []

    @property
    def output(self) -> Path:
        return self.unit.state_directory

    def set_up(self) -> None:
        """The state directory as systemd makes it, and the configuration's
        directory. What a run of the tier killed before its clean-up left (it
        carries the tier's marks) is taken over; an operator's own is refused."""
        for path in (self.unit.config, self.output):
            if path.exists() and not self._left_by_the_tier(path):
                raise RuntimeError(f"{path} exists already: the web tier does not "
                                   f"overwrite a machine's feed")
        if not self.unit.config.parent.exists():
            self.unit.config.parent.mkdir(mode=0o755)
            self._created.append(self.unit.config.parent)
        if self.unit.config.exists():
            self._created.append(self.unit.config)
        if self.output.exists():
            shutil.rmtree(self.output)  # a killed run's files: not this run's previous ones
        self.output.mkdir(mode=self.unit.state_mode)
        self.output.chmod(self.unit.state_mode)
        shutil.chown(self.output, self.unit.user, self.unit.group)
        (self.output / MARK).touch()
        self._created.append(self.output)

    def _left_by_the_tier(self, path: Path) -> bool:
        if path == self.output:
            return (path / MARK).exists()
        return path.read_text().startswith(HEADER)

    def configure(self, lines: list[str]) -> None:
        """The hypervisors, one a line, as an operator writes them."""
        if self.unit.config not in self._created:
            self._created.append(self.unit.config)
        self.unit.config.write_text("\n".join([HEADER, *lines]) + "\n")

    def run(self) -> subprocess.CompletedProcess:
        """One run of the unit's command as its user; AssertionError unless it exits 0."""
        result = subprocess.run(
            ["setpriv", f"--reuid={self.unit.user}", f"--regid={self.unit.group}",
             "--clear-groups", *self.unit.command],
            capture_output=True, text=True, timeout=TIMEOUT, cwd="/", check=False)
        if result.returncode != 0:
            raise AssertionError(f"the feed exited {result.returncode}: {result.stderr}")
        return result

    def remove(self) -> None:
        """What set_up created, the newest first; a directory of the configuration
        only if nothing else is in it by then."""
        for path in reversed(self._created):
            with contextlib.suppress(OSError):
                if path == self.output:
                    shutil.rmtree(path)
                elif path.is_dir():
                    path.rmdir()
                else:
                    path.unlink()
        self._created.clear()
