"""check_vm_inventory on VMs with hostile names, and in hostile surroundings.

The names come from harness.hostilenames (libvirt's test driver runs them
all); that they load into Icinga together is the Icinga tier's test
(tests/icinga/test_inventory_validates.py). Here: the output is UTF-8 under
any locale, one object name per VM, a domain argument every check takes
and that finds that very VM, and every failure to write is one line and
exit 3.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness.batchrun import run_batch
from harness.hostilenames import HOSTILE_NAMES, uuid_of, write_hostile_node

from libcheck.cli import domain_reference_problem

HOSTILE_LOCALES = ({"LANG": "C", "LC_ALL": "C"}, {"PYTHONIOENCODING": "ascii"},
                   {"LC_ALL": "C", "PYTHONIOENCODING": "latin-1"})


@pytest.fixture(scope="module")
def hostile_uri(tmp_path_factory) -> str:
    return write_hostile_node(tmp_path_factory.mktemp("hostile") / "node.xml")


def inventory(*args: str, env: dict | None = None, stdout=subprocess.PIPE,
              **kwargs) -> subprocess.CompletedProcess:
    """`python -m libcheck.inventory ARGS`, its output as bytes; stderr is captured."""
    return subprocess.run([sys.executable, "-m", "libcheck.inventory", *args],
                          stdout=stdout, stderr=subprocess.PIPE, timeout=60, check=False,
                          env={**os.environ, **(env or {})}, **kwargs)


@pytest.mark.parametrize("environment", HOSTILE_LOCALES, ids=["C", "ascii", "latin-1"])
@pytest.mark.parametrize("output", ["icinga2", "json"])
def test_the_output_is_utf8_whatever_the_locale(hostile_uri, environment, output):
    result = inventory("--connect", hostile_uri, "--hypervisor", "hv1", "--format", output,
                       env=environment)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    text = result.stdout.decode("utf-8")  # strict: every byte is UTF-8
    assert "ünïcødé 日本" in text and "vm \U0001f680" in text


def records(uri: str) -> list[dict]:
    result = inventory("--connect", uri, "--hypervisor", "hv1", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_vm_gets_an_object_name_of_its_own(hostile_uri):
    found = records(hostile_uri)
    names = [record["name"] for record in found]
    assert len(found) == len(HOSTILE_NAMES)
    assert len(set(names)) == len(names)
    assert not [name for name in names if "!" in name or any(ord(c) < 0x20 for c in name)]
    # Names Icinga takes stay the host names they always were.
    assert {"a_b", "vm01", "VM01", "Vm01", "$HOME", 'say "hi"'} <= set(names)


def test_every_domain_argument_is_taken_by_the_checks_and_finds_its_vm(hostile_uri, tmp_path):
    found = records(hostile_uri)
    assert not [r["vm_name"] for r in found if domain_reference_problem(r["vm_name"])]
    by_uuid = {uuid_of(index): name for index, name in enumerate(HOSTILE_NAMES)}
    runs = run_batch("check_vm_cpu", [["--connect", hostile_uri, "--domain", r["vm_name"],
                                       "--sample-interval", "0.05", "-v"] for r in found],
                     state_dir=tmp_path / "state")
    for record, run in zip(found, runs):
        shown = " ".join(by_uuid[record["vm_uuid"]].split())
        assert run.returncode == 0, (record["vm_name"], run.stdout)
        assert run.status.startswith(f"VM_CPU OK - {shown}: "), (shown, run.status)


def test_names_the_checks_refuse_and_a_uuid_shaped_name_go_by_uuid(hostile_uri):
    by_name = {record["display_name"]: record for record in records(hostile_uri)}
    for shown in ("new\\nline", "tab\\tbed", "carriage\\rreturn", "\\nleading", uuid_of(0)):
        assert by_name[shown]["vm_name"] == by_name[shown]["vm_uuid"], shown
    assert by_name["a!b"]["vm_name"] == "a!b" and by_name["8"]["vm_name"] == "8"


def closed_pipe_run(uri: str) -> subprocess.CompletedProcess:
    """The inventory writing into a pipe whose reader has gone."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return inventory("--connect", uri, stdout=writer)
    finally:
        os.close(writer)


def test_a_closed_pipe_full_disk_or_closed_stdout_is_one_line_and_exit_3(hostile_uri):
    with open("/dev/full", "wb") as full:
        runs = {"Broken pipe": closed_pipe_run(hostile_uri),
                "No space left on device": inventory("--connect", hostile_uri, stdout=full),
                "standard output is closed": inventory(
                    "--connect", hostile_uri, stdout=None,
                    preexec_fn=lambda: os.close(1))}
    for words, result in runs.items():
        assert result.returncode == 3, (words, result.stderr)
        assert result.stderr.decode() == f"check_vm_inventory: cannot write the output: {words}\n"


def test_bytes_that_are_not_utf8_in_the_uri_are_a_usage_error():
    result = inventory("--connect", "test:///\udcff")
    assert result.returncode == 3
    assert result.stderr == (b"check_vm_inventory: argument --connect: 'test:///\\udcff' "
                             b"is not valid UTF-8 (see --help)\n")


def test_a_dollar_in_an_interface_name_is_doubled_for_macro_resolution(tmp_path: Path):
    node = tmp_path / "node.xml"
    uri = write_hostile_node(node, names=("plain",))
    node.write_text(node.read_text().replace("tap0", "ta$p0"))
    result = inventory("--connect", uri, "--hypervisor", "hv1")
    assert result.returncode == 0, result.stderr
    assert b'= { target = "ta$$p0" }' in result.stdout
