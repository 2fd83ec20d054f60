"""Where things are, and the Debian packages the tier needs (installed when missing).

The daemons' own start scripts must not run during the install: a Docker-style
/usr/sbin/policy-rc.d that exits 101 is put in place for its duration when none
exists (harness.vm.host does the same for libvirt).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from harness.vm.host import (
    CommandFailed,
    TierUnavailable,
    apt_update,
    missing_packages,
    run,
    services_not_started,
)

# The checks start with `#!/usr/bin/env python3`: this interpreter's directory
# goes first on the daemons' PATH, so they run with the project installed.
VENV_BIN = Path(sys.executable).parent

PACKAGES = ("icinga2", "nagios4")
TOOLS = {"icinga2": "/usr/sbin/icinga2", "nagios4": "/usr/sbin/nagios4"}


def ensure_installed() -> None:
    """Install icinga2 and nagios4 when missing; TierUnavailable when impossible."""
    missing = missing_packages(PACKAGES) if shutil.which("dpkg-query") else list(PACKAGES)
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise TierUnavailable(f"{' '.join(missing)} not installed, and this is no "
                              "root Debian host that could install them")
    try:
        apt_update()
        with services_not_started():
            # Without recommends: fewer packages (no samba or snmp), a faster install.
            run(["apt-get", "install", "-y", "--no-install-recommends", *missing], timeout=900,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    except CommandFailed as exc:
        raise TierUnavailable(f"cannot install {' '.join(missing)}: {exc}") from exc
    if not all(Path(path).exists() for path in TOOLS.values()):
        raise TierUnavailable(f"installed {' '.join(missing)} but found no {TOOLS}")


def daemon_environment() -> dict[str, str]:
    """Environment for the daemons: our interpreter first on PATH, no locale surprises."""
    return {**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "LANG": "C.UTF-8"}


# A running domain whose name needs every escape: a double quote, a backslash,
# a macro-like `$HOME`, an `!` (not allowed in Icinga object names) and quotes.
AWKWARD_NAME = "we\"ird \\ $HOME! 'x'"
AWKWARD_UUID = "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def write_awkward_node(path: Path) -> str:
    """A libvirt test-driver node file with one such domain; its URI."""
    name = AWKWARD_NAME.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
    path.write_text(f"""<node>
  <cpu><nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>1</threads>
    <active>2</active><mhz>2000</mhz><model>i686</model></cpu>
  <memory>4194304</memory>
  <domain type='test'>
    <name>{name}</name>
    <uuid>{AWKWARD_UUID}</uuid>
    <memory unit='KiB'>1048576</memory>
    <vcpu placement='static'>2</vcpu>
    <os><type arch='i686'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><source file='/guest/w.img'/><target dev='vda'/></disk>
    </devices>
  </domain>
</node>
""")
    return f"test://{path}"


def inventory(*args: str) -> str:
    """The output of `python -m libcheck.inventory ARGS`; fails the test on exit != 0."""
    result = run([sys.executable, "-m", "libcheck.inventory", *args], timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def stop_session(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM to a daemon we started in its own session, then SIGKILL to what is left.

    Its workers and the plugins they run are in that session; a worker that
    hangs on its way down does not outlive the test.
    """
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)
