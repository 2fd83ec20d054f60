"""check_vm_pool against libvirt's test driver: the real executable on a node
file of two pools, and in-process runs on a test:///default set up through a
read-write connection (an inactive pool).

The test driver gives every pool of a node file 100 GiB, whatever the file
says, and an allocation of the sum of its volumes' allocations.  A test://
URI is never local, so `--space-from auto` uses libvirt's numbers there, as
`--space-from libvirt` does: the statvfs path is the unit tier's (a fake
statvfs) and the real tier's.
"""

from __future__ import annotations

import io
from functools import partial
from pathlib import Path

import pytest
from harness.checkrun import CheckRun, run_check
from harness.hypervisornode import NODE_POOL_CAPACITY, SharedDefault, write_every_state_node

from libcheck.hostruntime import HostRun
from libcheck.inspector import Inspector
from libcheck.pool import CHECK as POOL_CHECK
from libcheck.pool import LIBVIRT_SOURCE

GIB = 1024 ** 3


def pool_run(uri: str, *args: str) -> CheckRun:
    """Run check_vm_pool (it keeps no state, so it takes no --state-dir)."""
    return run_check("check_vm_pool", "--connect", uri, *args, state_dir=None)


@pytest.fixture
def node(tmp_path: Path) -> str:
    return write_every_state_node(tmp_path / "node.xml")


@pytest.fixture
def run(node):
    return partial(pool_run, node)


def assert_clean(result: CheckRun) -> None:
    assert result.stderr == "" and "Traceback" not in result.stdout, result.stdout + result.stderr


def values(result: CheckRun) -> dict[str, float]:
    return {label: item.value for label, item in result.perfdata.items()}


def test_two_pools_exact_numbers(run, node):
    result = run()
    assert_clean(result)
    assert result.returncode == 0
    assert result.status == (f"VM_POOL OK - {node}: scratch 0.0% of 100.0 GiB used, "
                             "vmimages 15.0% of 100.0 GiB used")
    allocated = 15 * GIB  # 5 + 10 GiB of the volumes
    assert values(result) == {
        "vmimages_capacity": NODE_POOL_CAPACITY, "vmimages_allocation": allocated,
        "vmimages_available": NODE_POOL_CAPACITY - allocated, "vmimages_usage": 15.0,
        "scratch_capacity": NODE_POOL_CAPACITY, "scratch_allocation": 0,
        "scratch_available": NODE_POOL_CAPACITY, "scratch_usage": 0.0,
    }
    assert result.perfdata["vmimages_usage"].uom == "%"
    assert result.perfdata["vmimages_usage"].maximum == "100"
    assert result.perfdata["vmimages_capacity"].uom == "B"


def test_volumes_give_the_thin_provisioning_overcommit(run):
    result = run("--volumes")
    assert_clean(result)
    numbers = values(result)
    assert numbers["vmimages_volumes_capacity"] == 120 * GIB  # 40 + 80 GiB
    assert numbers["vmimages_overcommit"] == 1.2
    assert (numbers["scratch_volumes_capacity"], numbers["scratch_overcommit"]) == (0, 0)
    result = run("--volumes", "-w", "vmimages_overcommit=1", "-c", "overcommit=1.5")
    assert result.returncode == 1
    assert result.status.endswith(": vmimages provisioned 1.20x (> 1)")


@pytest.mark.parametrize(("args", "code", "text"), [
    (("-w", "usage=10"), 1, "vmimages 15.0% used (> 10)"),
    (("-w", "10"), 1, "vmimages 15.0% used (> 10)"),
    (("-c", "vmimages_usage=14"), 2, "vmimages 15.0% used (> 14)"),
    (("-w", "usage=10", "-c", "vmimages_usage=95"), 1, "vmimages 15.0% used (> 10)"),
    # A floor on the space left is a range: at least 95 GB.
    (("-c", "available=95000000000:"), 2, "vmimages available 85.0 GiB (< 95000000000)"),
])
def test_thresholds_per_pool_and_for_every_pool(run, node, args, code, text):
    result = run(*args)
    assert_clean(result)
    assert result.returncode == code, result.stdout
    assert result.status == f"VM_POOL {('OK', 'WARNING', 'CRITICAL')[code]} - {node}: {text}"


def test_pools_chosen_and_excluded(run, node):
    result = run("--pool", "scratch")
    assert {label.split("_")[0] for label in result.perfdata} == {"scratch"}
    result = run("--exclude-pool", "scratch")
    assert {label.split("_")[0] for label in result.perfdata} == {"vmimages"}
    assert result.status == f"VM_POOL OK - {node}: vmimages 15.0% of 100.0 GiB used"


def test_a_missing_pool_is_critical_and_named(run, node):
    result = run("--pool", "vmimages", "--pool", "nosuch")
    assert_clean(result)
    assert result.returncode == 2
    assert result.status == f"VM_POOL CRITICAL - {node}: nosuch: no such storage pool"
    assert values(result)["vmimages_usage"] == 15.0


def test_a_threshold_for_a_pool_that_does_not_exist_is_unknown(run):
    result = run("-c", "nosuch_usage=95")
    assert_clean(result)
    assert result.returncode == 3
    assert len(result.lines) == 1
    assert result.status.startswith("VM_POOL UNKNOWN - ") and "nosuch" in result.status


@pytest.mark.parametrize("space_from", [(), ("--space-from", "auto"),
                                        ("--space-from", "libvirt")])
def test_on_the_test_driver_every_source_is_libvirt(run, space_from):
    # test:// is not a local hypervisor: its pools' paths are fiction, not this
    # machine's, so auto takes libvirt's numbers as --space-from libvirt does.
    result = run("-v", *space_from)
    assert_clean(result)
    assert f"vmimages: numbers from {LIBVIRT_SOURCE}" in result.lines
    assert f"scratch: numbers from {LIBVIRT_SOURCE}" in result.lines
    assert values(result)["vmimages_usage"] == 15.0


def test_an_unknown_space_source_is_a_usage_error(run):
    result = run("--space-from", "df")
    assert result.returncode == 3
    assert len(result.lines) == 1 and "--space-from" in result.status


# -- an inactive pool (read-write set-up, in this process) --------------------------------------

def in_process(default: SharedDefault, *args: str) -> tuple[int, list[str]]:
    stream = io.StringIO()
    code = HostRun(POOL_CHECK, stream=stream,
                   open_inspector=lambda uri: Inspector(default.read_only(), uri))(
        ["--connect", "test:///default", *args])
    return code, stream.getvalue().splitlines()


@pytest.fixture
def shared_default():
    with SharedDefault() as default:
        yield default


def test_an_inactive_pool_is_critical_and_has_no_numbers(shared_default):
    code, lines = in_process(shared_default, "--volumes")
    assert code == 2, lines
    status, perfdata = lines[0].split(" | ")
    assert status == "VM_POOL CRITICAL - test:///default: defined-inactive: inactive"
    labels = {item.split("=")[0] for item in perfdata.split()}
    assert {label.split("_")[0] for label in labels} == {"default-pool", "thin"}
    numbers = {item.split("=")[0]: item.split("=")[1].split(";")[0] for item in perfdata.split()}
    assert numbers["thin_volumes_capacity"] == f"{200 * GIB}B"
    assert numbers["thin_overcommit"] == "2"
    assert numbers["thin_usage"] == "30%"


def test_an_inactive_pool_takes_its_option_and_can_be_excluded(shared_default):
    code, lines = in_process(shared_default, "--state-if-inactive", "warning")
    assert code == 1, lines
    code, lines = in_process(shared_default, "--exclude-pool", "defined-inactive")
    assert code == 0, lines
    code, lines = in_process(shared_default, "-w", "defined-inactive_usage=80")
    assert code == 2, lines  # the pool's state wins; its threshold judges nothing
    assert "defined-inactive: inactive" in lines[0]
    assert "pool defined-inactive is inactive" in "\n".join(lines)
