"""`make graphs`: PNGs of a real guest's CPU, memory, disk and network in docs/graphs/.

Runs the graphing tier (tests/graphs/test_graph_tier.py) once, with
CHECK_VM_GRAPHS_ROUNDS rounds of commanded work (default 2, a few minutes),
and has it render one PNG per check with graphite-web's render API into
docs/graphs/. The tier needs what `make test` needs for it (root on a Debian
host with KVM or QEMU); fonts-dejavu-core is installed first when missing, for
the titles and legends. The tiers that share the machine's libvirt sockets
never run at once: this waits for /tmp/check_vm-tiers.lock like they do.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "graphs"
LOCK = Path("/tmp/check_vm-tiers.lock")
FONT_PACKAGE = "fonts-dejavu-core"
TIER = "tests/graphs/test_graph_tier.py"


def ensure_fonts() -> None:
    """fonts-dejavu-core installed (graphite-web draws its text with DejaVu)."""
    installed = subprocess.run(["dpkg-query", "-W", "-f=${Status}", FONT_PACKAGE],
                               capture_output=True, text=True, check=False)
    if "install ok installed" in installed.stdout:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit(f"{FONT_PACKAGE} is missing and this is no root Debian host to install it")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=environment, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", FONT_PACKAGE],
                   check=True, env=environment, timeout=600)


def main() -> int:
    ensure_fonts()
    OUT.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "CI": "true", "CHECK_VM_GRAPHS_OUT": str(OUT),
                   "CHECK_VM_GRAPHS_ROUNDS": os.environ.get("CHECK_VM_GRAPHS_ROUNDS", "2")}
    with LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", TIER], cwd=REPO,
                                env=environment, check=False)
    if result.returncode != 0:
        return result.returncode
    for path in sorted(OUT.glob("*.png")):
        print(f"{path.relative_to(REPO)}: {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
