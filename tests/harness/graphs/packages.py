"""Debian's time-series databases installed for the tier, none of their services left running.

graphite-carbon and influxdb start their daemons from their postinst
(invoke-rc.d); a policy-rc.d that exits 101 holds them back for the duration
of the install (harness.vm.host.services_not_started). Should a daemon start
anyway (a policy-rc.d of the machine's own that allows it), every
carbon-cache, influxd or apache2 process that appeared during the install is
stopped by its PID afterwards. Installed packages are never installed again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path

from harness.polling import poll
from harness.vm.host import (
    CommandFailed,
    TierUnavailable,
    apt_update,
    missing_packages,
    run,
    services_not_started,
)

from .process import alive

PACKAGES = ("graphite-carbon", "python3-whisper", "graphite-web", "influxdb")
# What the tier runs of them: each must exist once the packages are in.
TOOLS = ("/usr/bin/carbon-cache", "/usr/bin/whisper-fetch", "/usr/bin/graphite-manage",
         "/usr/bin/influxd")
DAEMON_NAMES = frozenset({"carbon-cache", "influxd", "apache2"})
APT_LOCK_WAIT = 300
STOP_TIMEOUT = 15


def daemon_pids() -> set[int]:
    """PIDs of the processes whose command name is one of Debian's daemons."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() in DAEMON_NAMES:
                    pids.add(int(entry.name))
    return pids


def ensure_installed() -> None:
    """Install whatever of PACKAGES is missing; TierUnavailable when impossible."""
    missing = missing_packages(PACKAGES) if shutil.which("dpkg-query") else list(PACKAGES)
    if missing:
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise TierUnavailable(f"{' '.join(missing)} not installed, and this is no "
                                  "root Debian host that could install them")
        _install(missing)
    absent = [tool for tool in TOOLS if not Path(tool).exists()]
    if absent:
        raise TierUnavailable(f"installed {' '.join(PACKAGES)} but found no {' '.join(absent)}")


def _install(missing: list[str]) -> None:
    before = daemon_pids()
    try:
        apt_update()
        with services_not_started():
            run(["apt-get", "-o", f"DPkg::Lock::Timeout={APT_LOCK_WAIT}", "install", "-y",
                 "--no-install-recommends", *missing], timeout=900,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    except CommandFailed as exc:
        raise TierUnavailable(f"cannot install {' '.join(missing)}: {exc}") from exc
    finally:
        stop_pids(daemon_pids() - before)


def stop_pids(pids: set[int]) -> None:
    """SIGTERM to each, a bounded wait for them to go, then SIGKILL to any left."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    poll(lambda: not any(map(alive, pids)), STOP_TIMEOUT)
    pids = {pid for pid in pids if alive(pid)}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
