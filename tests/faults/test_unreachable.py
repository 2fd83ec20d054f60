"""libvirt unreachable or hung: UNKNOWN with a hint, in bounded time."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest
from harness.asuser import nobody_command
from harness.checkrun import CheckRun
from harness.faultkit import CHECKS, assert_one_line, assert_state_valid, needs_root, timed_check

ALL = sorted(CHECKS)


@pytest.mark.parametrize("check", ALL)
def test_missing_socket_names_the_daemon(check, state_dir, tmp_path):
    timed = timed_check(check, "--connect", f"qemu+unix:///system?socket={tmp_path}/none",
                        "-d", "vm", state_dir=state_dir)
    assert timed.run.returncode == 3
    assert_one_line(timed.run, check, "UNKNOWN", "cannot connect to libvirt",
                    "No such file or directory", "is libvirtd (or virtqemud) running")
    assert timed.seconds < 3.0
    assert assert_state_valid(state_dir) == []


@pytest.mark.parametrize("check", ALL)
def test_wrong_uri_scheme_names_the_option(check, state_dir):
    timed = timed_check(check, "--connect", "kvm:///system", "-d", "vm", state_dir=state_dir)
    assert timed.run.returncode == 3
    assert_one_line(timed.run, check, "UNKNOWN", "'kvm' is not a libvirt driver",
                    "check --connect")
    assert timed.seconds < 3.0


@needs_root
@pytest.mark.parametrize("check", ALL)
def test_permission_denied_on_a_root_only_socket(check, nobody_dir):
    path = nobody_dir / "root-only-sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    path.chmod(0o600)
    state = nobody_dir / "state"
    state.mkdir()
    os.chown(state, 65534, 65534)
    try:
        with nobody_command(check) as command:
            completed = subprocess.run(
                [*command, "--connect", f"qemu+unix:///system?socket={path}", "-d", "vm",
                 "--state-dir", str(state)],
                capture_output=True, text=True, timeout=30, check=False)
    finally:
        server.close()
    run = CheckRun(completed.returncode, completed.stdout, completed.stderr)
    assert run.returncode == 3
    assert_one_line(run, check, "UNKNOWN", "Permission denied",
                    'set auth_unix_ro = "none" in libvirtd.conf', "not the libvirt group")


@pytest.mark.parametrize("check", ALL)
def test_hung_libvirtd_gives_unknown_within_the_timeout(check, state_dir, silent_socket):
    timed = timed_check(check, "--connect", f"qemu+unix:///system?socket={silent_socket}",
                        "-d", "vm", "-t", "2", state_dir=state_dir)
    assert timed.run.returncode == 3
    assert_one_line(timed.run, check, "UNKNOWN", "timed out after 2 s")
    assert 2.0 <= timed.seconds < 3.5
    assert assert_state_valid(state_dir) == []
    assert not list(state_dir.glob(".*.tmp")) if state_dir.exists() else True
