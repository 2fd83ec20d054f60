"""Fixtures of the fault matrix: a silent libvirt socket, state directories."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness.faultkit import SilentServer


@pytest.fixture
def silent_socket(tmp_path: Path):
    server = SilentServer(tmp_path / "libvirt-sock")
    yield server.path
    server.close()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def nobody_dir():
    """A directory user nobody can reach (pytest's tmp_path is private to root)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="check_vm-faults-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
