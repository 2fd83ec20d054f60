"""What the benchmark installs before it measures (as root, through apt).

- the Debian package built from this tree (scripts/build-deb.sh, `make deb`)
  when dist/ has none or one older than the tree's newest file, installed
  with apt (its plugins go to /usr/lib/nagios/plugins/check_vm_*);
- Debian's check_libvirt (monitoring-plugins-contrib, with the Perl modules
  it needs), whose spool directory's parent must exist while it runs (made
  for the run, and removed after it, when missing);
- Python bytecode for libcheck in the checkout (the package compiles its own
  at installation), so that no timed run compiles.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Iterator, Optional

from harness.paths import REPO

PEER_PACKAGES = ("monitoring-plugins-contrib", "libsys-virt-perl", "libmonitoring-plugin-perl")
PEER = Path("/usr/lib/nagios/plugins/check_libvirt")
PEER_SPOOL_PARENT = Path("/var/lib/nagios/.cache")
TREE = ("libcheck", "checks", "debian", "pyproject.toml", "icinga2-conf", "scripts")
APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


class NotInstallable(Exception):
    """A prerequisite could not be installed; the message says why."""


def _run(argv: list[str], what: str, timeout: float = 600) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, env=APT_ENV,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-600:]
        raise NotInstallable(f"{what} failed ({done.returncode}): {tail}")


def newest_in_tree() -> float:
    """The modification time of the newest file the package is built from."""
    newest = 0.0
    for name in TREE:
        top = REPO / name
        paths = [top] if top.is_file() else top.rglob("*") if top.exists() else []
        for path in paths:
            if path.is_file() and "__pycache__" not in path.parts:
                newest = max(newest, path.stat().st_mtime)
    return newest


def current_deb() -> Optional[Path]:
    """dist/check-vm_*_all.deb, when it is newer than the tree."""
    debs = sorted((REPO / "dist").glob("check-vm_*_all.deb"), key=lambda p: p.stat().st_mtime)
    if debs and debs[-1].stat().st_mtime >= newest_in_tree():
        return debs[-1]
    return None


def ensure_package(say: Callable[[str], None]) -> Path:
    """Build the package from this tree when needed, and install it."""
    deb = current_deb()
    if deb is None:
        say("deb: dist/ has no package as new as the tree: building it (make deb)")
        _run(["sh", str(REPO / "scripts" / "build-deb.sh")], "make deb")
        deb = current_deb()
        if deb is None:
            raise NotInstallable("make deb left no dist/check-vm_*_all.deb")
    say(f"deb: installing {deb.relative_to(REPO)}")
    _run(["apt-get", "install", "-y", "-qq", "--reinstall", str(deb)], f"apt-get install {deb}")
    return deb


def ensure_peer(say: Callable[[str], None]) -> None:
    """Debian's check_libvirt and the Perl modules it needs."""
    if not PEER.exists():
        say(f"peer: installing {' '.join(PEER_PACKAGES)}")
        _run(["apt-get", "install", "-y", "-qq", *PEER_PACKAGES], "apt-get install")


@contextlib.contextmanager
def peer_spool_parent() -> Iterator[None]:
    """The peer's spool parent while the benchmark runs; what had to be created
    for it is removed afterwards.  A /var/lib/nagios left behind, owned by root,
    would become the nagios user's home when nagios4 or icinga2 is installed
    later, and that user could not write its own home."""
    missing = [path for path in (*reversed(PEER_SPOOL_PARENT.parents), PEER_SPOOL_PARENT)
               if not path.exists()]
    PEER_SPOOL_PARENT.mkdir(parents=True, exist_ok=True)
    try:
        yield
    finally:
        if missing:
            shutil.rmtree(missing[0], ignore_errors=True)


def compile_checkout(python: str) -> None:
    """Bytecode for the checkout's libcheck, as an installation has it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([python, "-m", "compileall", "-q", str(REPO / "libcheck")], env=env,
                   check=True, timeout=120)
