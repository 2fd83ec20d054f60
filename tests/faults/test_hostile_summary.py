"""check_vm_host against a hostile or damaged hypervisor summary (`g-<n>/host`
of the host snapshot) and a hostile --expect-file.

A summary that is not JSON, of another format or URI, huge, a FIFO or a
directory in its place, with values no libvirt gives or dated after now, or
missing (a generation written by an older version), counts as absent: the
check refreshes, answers what the host really holds, says why in a note,
never hangs and never prints a traceback.  An --expect-file that cannot be
read as a list of names is one UNKNOWN line naming the option.  The real
executable runs against a test-driver node file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import pytest
from harness.checkrun import CheckRun, run_check
from harness.hypervisornode import NodeDomain, write_hypervisor_node
from harness.snapshotkit import current_dir, generation, snapshot_dir

from libcheck.hostsnapshot import MAX_SUMMARY_BYTES, SNAPSHOT_FORMAT

# A loaded machine may spread a run over seconds; a hang would take the check's own -t.
RUN_TIMEOUT = 30
NOTE = "host snapshot discarded: the host's summary"


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return write_hypervisor_node(tmp_path / "node.xml", [
        NodeDomain("web1", vcpus=2), NodeDomain("web2", vcpus=2),
        NodeDomain("stuck", runstate=3, vcpus=4)])


def host_run(uri: str, state_dir: Path, *args: str) -> CheckRun:
    return run_check("check_vm_host", "--connect", uri, *args, state_dir=state_dir,
                     timeout=RUN_TIMEOUT)


def assert_true_answer(run: CheckRun, uri: str) -> None:
    """What the node holds: one paused VM (a warning), 8 vCPUs on 4 CPUs."""
    assert run.stderr == "" and "Traceback" not in run.stdout, run.stdout + run.stderr
    assert run.returncode == 1, run.stdout
    assert run.status == f"VM_HOST WARNING - {uri}: stuck: paused"
    values = {label: item.value for label, item in run.perfdata.items()}
    assert (values["running"], values["paused"], values["active_vcpus"]) == (2, 1, 8)


def primed(uri: str, state_dir: Path) -> Path:
    """The summary file of a first run's generation."""
    assert_true_answer(host_run(uri, state_dir), uri)
    summary = current_dir(snapshot_dir(state_dir, uri)) / "host"
    assert summary.is_file()
    return summary


def rewrite_document(path: Path, edit: Callable[[dict], None]) -> None:
    document = json.loads(path.read_bytes())
    edit(document)
    path.write_text(json.dumps(document))


def first_domain(document: dict) -> dict:
    return document["summary"]["domains"][0]


def make_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path, 0o600)


def make_directory(path: Path) -> None:
    path.unlink()
    path.mkdir(mode=0o700)


def make_huge(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(MAX_SUMMARY_BYTES + 1)


HOSTILE_FILES = {
    "not JSON": (lambda path: path.write_bytes(b"{\"format\": \"check_vm-host"),
                 f"{NOTE}: it is not valid JSON"),
    "not an object": (lambda path: path.write_text("[1, 2, 3]"),
                      f"{NOTE}: it is not a JSON object"),
    "NUL bytes": (lambda path: path.write_bytes(b"\0" * 4096), f"{NOTE}: it is not valid JSON"),
    "another format": (lambda path: rewrite_document(
        path, lambda document: document.update(format="check_vm-host-snapshot/0")),
        f"{NOTE} is not this version's snapshot of this URI"),
    "another URI": (lambda path: rewrite_document(
        path, lambda document: document.update(uri="qemu:///system")),
        f"{NOTE} is not this version's snapshot of this URI"),
    "huge": (make_huge, f"{NOTE}: it is too large"),
    "a FIFO": (make_fifo, f"{NOTE}: it is not a regular file"),
    "a directory": (make_directory, f"{NOTE}: it is not a regular file"),
    "no summary": (lambda path: rewrite_document(
        path, lambda document: document.pop("summary")), f"{NOTE}: a HostSummary is not an object"),
    "a vCPU count out of range": (lambda path: rewrite_document(
        path, lambda document: first_domain(document).update(vcpus=10**6)),
        f"{NOTE}: a vCPU count of 1000000 is out of range"),
    "negative memory": (lambda path: rewrite_document(
        path, lambda document: first_domain(document).update(memory_kib=-1)),
        f"{NOTE}: a counter of -1 is out of range"),
    "a state that is not a number": (lambda path: rewrite_document(
        path, lambda document: first_domain(document)["identity"].update(state="paused")),
        f"{NOTE}: 'paused' is not an integer"),
    "host CPUs out of range": (lambda path: rewrite_document(
        path, lambda document: document["summary"]["node"].update(cpus=2**40)),
        f"{NOTE}: a CPU count of 1099511627776 is out of range"),
    "a huge integer": (lambda path: path.write_text(
        path.read_text().replace('"cpus":4', '"cpus":' + "9" * 5000)),
        f"{NOTE}: it holds a number of too many digits"),
    "too many domains": (lambda path: rewrite_document(
        path, lambda document: document["summary"].update(
            domains=[first_domain(document)] * 20000)),
        f"{NOTE}: a list of 20000 items is longer than 16384"),
    "dated after now": (lambda path: rewrite_document(
        path, lambda document: document["summary"].update(
            wall_time=document["summary"]["wall_time"] + 3600)),
        f"{NOTE}: its sample is dated after now"),
    "timed after now": (lambda path: rewrite_document(
        path, lambda document: document["summary"].update(
            boot_time=document["summary"]["boot_time"] + 3600)),
        f"{NOTE}: its sample is timed after now"),
    "an infinite time": (lambda path: path.write_text(
        path.read_text().replace('"wall_time":', '"wall_time":Infinity,"x":')),
        f"{NOTE}: a number is not finite"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_FILES))
def test_a_hostile_summary_is_discarded_and_refreshed(case, uri, state_dir):
    damage, note = HOSTILE_FILES[case]
    summary = primed(uri, state_dir)
    top = snapshot_dir(state_dir, uri)
    before = generation(top)
    damage(summary)
    run = host_run(uri, state_dir)
    assert_true_answer(run, uri)
    assert note in run.lines[1:], (note, run.stdout)
    # The refresh replaced it: the next run is served, sound and without a note.
    assert generation(top) > before
    document = json.loads((current_dir(top) / "host").read_bytes())
    assert (document["format"], document["uri"]) == (SNAPSHOT_FORMAT, uri)
    again = host_run(uri, state_dir)
    assert_true_answer(again, uri)
    assert not any(line.startswith("host snapshot") for line in again.lines[1:]), again.stdout


def test_a_generation_of_an_older_version_without_a_summary_is_refreshed(uri, state_dir):
    summary = primed(uri, state_dir)
    top = snapshot_dir(state_dir, uri)
    before = generation(top)
    summary.unlink()
    run = host_run(uri, state_dir)
    assert_true_answer(run, uri)
    assert generation(top) > before
    assert (current_dir(top) / "host").is_file()


def test_a_symlink_in_place_of_the_summary_is_not_followed(uri, state_dir, tmp_path):
    summary = primed(uri, state_dir)
    top = snapshot_dir(state_dir, uri)
    before = generation(top)
    target = tmp_path / "planted"
    target.write_bytes(summary.read_bytes())
    summary.unlink()
    summary.symlink_to(target)
    run = host_run(uri, state_dir)
    assert_true_answer(run, uri)
    assert f"{NOTE}: it is a symlink" in run.lines[1:], run.stdout
    assert target.read_bytes() != b"" and target.stat().st_nlink == 1  # left alone
    assert generation(top) > before


def test_a_well_formed_summary_is_not_believed_past_its_age(uri, state_dir):
    # Of no domain at all, but an hour old: refreshed, not served.
    summary = primed(uri, state_dir)
    top = snapshot_dir(state_dir, uri)
    before = generation(top)
    rewrite_document(summary, lambda document: document["summary"].update(
        boot_time=document["summary"]["boot_time"] - 3600, domains=[]))
    run = host_run(uri, state_dir)
    assert_true_answer(run, uri)
    assert generation(top) > before


# -- a hostile --expect-file ---------------------------------------------------------------------

def fifo(path: Path) -> Path:
    os.mkfifo(path, 0o600)
    return path


def directory(path: Path) -> Path:
    path.mkdir()
    return path


def not_utf8(path: Path) -> Path:
    path.write_bytes(b"web1\n\xff\xfeweb2\n")
    return path


def missing(path: Path) -> Path:
    return path


def device(path: Path) -> Path:
    path.symlink_to("/dev/zero")
    return path


def too_large(path: Path) -> Path:
    with open(path, "wb") as handle:
        handle.truncate(16 * 1024 * 1024 + 1)
    return path


@pytest.mark.parametrize(("make", "words"), [
    (fifo, "not a regular file"),
    (directory, "Is a directory"),
    (not_utf8, "not UTF-8 text"),
    (missing, "No such file or directory"),
    (device, "not a regular file"),
    (too_large, "larger than 16 MiB"),
])
def test_a_hostile_expect_file_is_one_unknown_line_naming_the_option(make, words, uri,
                                                                     state_dir, tmp_path):
    path = make(tmp_path / "expected")
    run = host_run(uri, state_dir, "--expect-file", str(path))
    assert run.stderr == "" and "Traceback" not in run.stdout, run.stdout + run.stderr
    assert run.returncode == 3
    assert run.lines == [f"VM_HOST UNKNOWN - --expect-file {path}: {words}"]

