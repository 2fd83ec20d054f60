"""Fixtures for the test-driver tier: the real executables as subprocesses.

Every check here talks to libvirt's built-in test driver, either the
embedded `test:///default` or the custom node in tests/data/node.xml.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness.checkrun import CheckRun, run_check


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A fresh state directory per test."""
    return tmp_path / "state"


def _runner(check: str, state_dir: Path):
    def run(*args: str, **kwargs) -> CheckRun:
        # A short in-run pause keeps the tier fast; the default is tested apart.
        pause = () if "--sample-interval" in args else ("--sample-interval", "0.3")
        return run_check(check, *pause, *args, state_dir=state_dir, **kwargs)
    return run


@pytest.fixture
def cpu(state_dir: Path):
    """Run check_vm_cpu with a per-test state directory."""
    return _runner("check_vm_cpu", state_dir)


@pytest.fixture
def mem(state_dir: Path):
    """Run check_vm_mem with a per-test state directory."""
    return _runner("check_vm_mem", state_dir)


@pytest.fixture
def disk(state_dir: Path):
    """Run check_vm_disk_io with a per-test state directory."""
    return _runner("check_vm_disk_io", state_dir)


@pytest.fixture
def nic(state_dir: Path):
    """Run check_vm_nic with a per-test state directory."""
    return _runner("check_vm_nic", state_dir)
