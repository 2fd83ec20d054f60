"""Nagios Core 4 for tests: a minimal main config around the shipped files.

The sample objects of Debian's nagios4 package (commands, timeperiods,
contacts, templates) are what the shipped templates build on; everything
Nagios writes goes under one temporary directory.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from pathlib import Path

from harness.paths import CHECKS, NAGIOS_CONF

from .environment import TOOLS, daemon_environment, stop_session

NAGIOS4 = TOOLS["nagios4"]
SAMPLE_OBJECTS = Path("/etc/nagios4/objects")
SAMPLES = ("commands.cfg", "timeperiods.cfg", "contacts.cfg", "templates.cfg")
SHIPPED = ("check_vm-commands.cfg", "check_vm-templates.cfg", "check_vm-example-hosts.cfg")
# The host check of linux-server (the hypervisors' template builds on it): Debian's
# monitoring-plugins define it (ping.cfg); here it stands in, always UP.
HOST_ALIVE = """define command {
    command_name    check-host-alive
    command_line    /bin/true
}
"""


def main_config(root: Path, conf: Path = NAGIOS_CONF, files: tuple = SHIPPED,
                extra: tuple = (), settings: str = "") -> Path:
    """nagios.cfg for the sample objects, `files` of `conf` and `extra` paths."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "resource.cfg").write_text(f"$USER2$={CHECKS}\n")
    (root / "host-alive.cfg").write_text(HOST_ALIVE)
    objects = [SAMPLE_OBJECTS / name for name in SAMPLES] + [root / "host-alive.cfg"]
    objects += [conf / name for name in files] + list(extra)
    lines = [f"cfg_file={path}" for path in objects] + [
        f"resource_file={root / 'resource.cfg'}",
        f"log_file={root / 'nagios.log'}",
        f"status_file={root / 'status.dat'}",
        f"lock_file={root / 'nagios.pid'}",
        f"temp_file={root / 'nagios.tmp'}",
        f"temp_path={root}",
        f"check_result_path={root}",
        f"object_cache_file={root / 'objects.cache'}",
        f"precached_object_file={root / 'objects.precache'}",
        f"state_retention_file={root / 'retention.dat'}",
        f"command_file={root / 'nagios.cmd'}",
        f"query_socket={root / 'nagios.qh'}",
        "check_external_commands=0",
        "use_syslog=0",
        # Nagios drops root for nagios_user, who cannot read the tests' files.
        f"nagios_user={pwd.getpwuid(os.getuid()).pw_name}",
        f"nagios_group={grp.getgrgid(os.getgid()).gr_name}",
    ]
    config = root / "nagios.cfg"
    config.write_text("\n".join(lines) + "\n" + settings)
    return config


def verify(config: Path) -> subprocess.CompletedProcess:
    """`nagios4 -v CONFIG`: the pre-flight check of the whole configuration."""
    return subprocess.run([NAGIOS4, "-v", str(config)], capture_output=True, text=True,
                          timeout=60, check=False, env=daemon_environment())


# A running test instance: seconds as the interval unit, checks spread over
# one "minute" of them, status written every second, nobody notified.
FAST_SETTINGS = """\
interval_length=1
max_service_check_spread=2
max_host_check_spread=2
status_update_interval=1
check_result_reaper_frequency=1
enable_notifications=0
illegal_macro_output_chars=`~$&|'"<>
"""


def status_blocks(path: Path, kind: str) -> list[dict[str, str]]:
    """The `kind` blocks (servicestatus, hoststatus) of a status.dat."""
    blocks, current = [], None
    for line in path.read_text(errors="replace").splitlines():
        stripped = line.strip()
        if stripped == f"{kind} {{":
            current = {}
        elif stripped == "}" and current is not None:
            blocks.append(current)
            current = None
        elif current is not None and "=" in stripped:
            key, value = stripped.split("=", 1)
            current[key] = value
    return blocks


class NagiosDaemon:
    """`nagios4 CONFIG` in the foreground, as the tests' user, stopped by PID."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.root = config.parent
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        out = (self.root / "daemon.out").open("w")
        self._process = subprocess.Popen([NAGIOS4, str(self.config)], stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         env=daemon_environment())
        out.close()

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_session(process, 15)

    def status(self, kind: str) -> list[dict[str, str]]:
        path = self.root / "status.dat"
        return status_blocks(path, kind) if path.exists() else []
