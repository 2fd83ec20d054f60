"""check_vm_director_feed as the package's systemd unit runs it, without systemd.

The command line is the installed unit's ExecStart, run as its User and
Group; the output directory is its StateDirectory under /var/lib, made as
systemd makes it (owned by that user, StateDirectoryMode), and the
configuration is the file the unit names. What the tier creates there it
removes at the end; a file or directory that was there before is left alone
and the tier refuses to run over it.
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
        directory; refuses to take over an operator's own."""
        for path in (self.unit.config, self.output):
            if path.exists():
                raise RuntimeError(f"{path} exists already: the web tier does not "
                                   f"overwrite a machine's feed")
        if not self.unit.config.parent.exists():
            self.unit.config.parent.mkdir(mode=0o755)
            self._created.append(self.unit.config.parent)
        self.output.mkdir(mode=self.unit.state_mode)
        self.output.chmod(self.unit.state_mode)
        shutil.chown(self.output, self.unit.user, self.unit.group)
        self._created.append(self.output)

    def configure(self, lines: list[str]) -> None:
        """The hypervisors, one a line, as an operator writes them."""
        if self.unit.config not in self._created:
            self._created.append(self.unit.config)
        self.unit.config.write_text("\n".join(["# the web tier's hypervisors", *lines]) + "\n")

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
        """What set_up created, the newest first."""
        for path in reversed(self._created):
            with contextlib.suppress(OSError):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        self._created.clear()
