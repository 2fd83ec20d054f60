"""check_vm_director_feed against hostile files in its output directory.

What stands where its previous vms.json was (garbage, a symlink, a FIFO with
or without a writer, a directory, rows of another shape) is ignored with one
line on stderr: never followed, never waited on, never fatal. A write that
fails (a full disk) leaves the previous files as they were; what cannot be
replaced ends in one line and exit 3, each file whole.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from harness.directorfeed import FEED, configured, feed, node, placed

PLANTED = '[{"name": "planted", "hypervisor": "agent-a"}]'


@pytest.fixture
def output(tmp_path: Path) -> Path:
    path = tmp_path / "import"
    path.mkdir()
    return path


def plant(previous: Path, hostile: str, target: Path) -> None:
    if hostile == "garbage":
        previous.write_bytes(b"\xff{[")
    elif hostile == "symlink":
        previous.symlink_to(target)
    elif hostile in ("fifo", "fifo with a writer"):
        os.mkfifo(previous)
    else:
        previous.write_text('{"name": "x"}')


@pytest.mark.parametrize("hostile", ["garbage", "symlink", "fifo", "fifo with a writer",
                                     "not rows"])
def test_a_hostile_previous_file_is_ignored_never_followed(tmp_path: Path, output: Path,
                                                            hostile: str) -> None:
    a = node(tmp_path / "a.xml", {"web": 1})
    target = tmp_path / "secret"
    target.write_text(PLANTED)
    previous = output / "vms.json"
    plant(previous, hostile, target)
    writer = None
    if hostile == "fifo with a writer":
        # A writer that holds the FIFO open, writing nothing: a read would block.
        writer_fd = [-1]
        opener = threading.Thread(target=lambda: writer_fd.__setitem__(
            0, os.open(previous, os.O_WRONLY)), daemon=True)
        opener.start()
        reader = os.open(previous, os.O_RDONLY | os.O_NONBLOCK)
        opener.join(5)
        writer = (reader, writer_fd[0])
    try:
        result = feed(configured(tmp_path, [f"agent-a {a}"]), output)
    finally:
        for fd in writer or ():
            os.close(fd)
    assert result.returncode == 0, result.stderr
    assert "ignoring the previous" in result.stderr and result.stderr.count("\n") == 1
    assert placed(output) == {"web": "agent-a"}
    assert stat.S_ISREG(previous.lstat().st_mode)
    assert target.read_text() == PLANTED


def _limited_file_size() -> None:
    """In the child: files of at most 300 bytes, and EFBIG instead of SIGXFSZ, as a
    full disk refuses a write."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (300, 300))


def test_a_write_that_fails_leaves_both_previous_files(tmp_path: Path, output: Path) -> None:
    a_path = tmp_path / "a.xml"
    config = configured(tmp_path, [f"agent-a {node(a_path, {'web': 1})}"])
    assert feed(config, output).returncode == 0
    before = {name: (output / name).read_bytes() for name in ("vms.json", "hypervisors.json")}
    node(a_path, {"web": 1, "db": 1})
    result = subprocess.run([sys.executable, str(FEED), "--config", str(config),
                             "--output-dir", str(output)], capture_output=True, text=True,
                            timeout=60, check=False, preexec_fn=_limited_file_size)
    assert result.returncode == 3 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("check_vm_director_feed: cannot write to ")
    assert {name: (output / name).read_bytes() for name in before} == before
    assert sorted(os.listdir(output)) == ["hypervisors.json", "vms.json"]


def test_a_directory_where_a_file_goes_is_one_line_and_each_file_whole(
        tmp_path: Path, output: Path) -> None:
    config = configured(tmp_path, [f"agent-a {node(tmp_path / 'a.xml', {'web': 1})}"])
    (output / "hypervisors.json").mkdir()
    result = feed(config, output)
    assert result.returncode == 3 and result.stderr.count("\n") == 1, result.stderr
    assert json.loads((output / "vms.json").read_text())[0]["name"] == "web"
    assert sorted(os.listdir(output)) == ["hypervisors.json", "vms.json"]


def test_without_stderr_nothing_reaches_stdout(tmp_path: Path, output: Path) -> None:
    a = node(tmp_path / "a.xml", {"web": 1})
    (output / "vms.json").write_bytes(b"\xff")
    config = configured(tmp_path, [f"agent-a {a}"])
    result = subprocess.run(f"{sys.executable} {FEED} --config {config} --output-dir "
                            f"{output} 2>&-", shell=True, capture_output=True, text=True,
                            timeout=60, check=False)
    assert (result.returncode, result.stdout) == (0, "")
