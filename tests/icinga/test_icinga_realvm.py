"""Icinga 2 checks a real QEMU guest, through the shipped config and the inventory.

The host object comes from check_vm_inventory run against the hypervisor;
the daemon runs the shipped apply rules on it. The guest is the realvm
tier's: its session fixtures `hypervisor` and `guest` when they are visible
here (they are not while they live in tests/realvm/conftest.py), otherwise a
hypervisor and guest of this module's own (realguest.py). Icinga's
InfluxdbWriter writes into a real InfluxDB of the module's own.
"""

from __future__ import annotations

from typing import Iterator

import pytest
from harness.checkrun import parse_perfdata
from harness.icinga.environment import inventory
from harness.icinga.scenario import NODE, Run, command_has, run_scenario
from harness.vm.domains import Guest, Nic
from harness.vm.hypervisor import Hypervisor
from harness.vm.realguest import module_guest

pytestmark = pytest.mark.realvm


@pytest.fixture(scope="module")
def real_guest(request) -> Iterator[tuple[Hypervisor, Guest]]:
    """The realvm tier's hypervisor and guest if this directory sees them, else our own."""
    with module_guest(request, "icinga") as pair:
        yield pair


def services_of(vm: Guest) -> list[str]:
    mac = Nic().guest_mac
    return [f"{vm.name}!{name}" for name in ("vm-cpu", "vm-mem", *(
        f"disk {disk}" for disk in vm.disks), f"nic {mac}")]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, daemons_installed, influxdb, real_guest) -> Iterator[Run]:
    hypervisor, vm = real_guest
    hosts = inventory("--connect", hypervisor.uri, "--hypervisor", NODE)
    root = tmp_path_factory.mktemp("icinga2-realvm")
    with run_scenario(root, influxdb, {"inventory.conf": hosts}, services_of(vm),
                      [vm.name]) as run:
        yield run


def perfdata(result: dict) -> dict:
    return {label: item for raw in result["performance_data"]
            for label, item in parse_perfdata(raw).items()}


def test_every_service_of_the_guest_is_ok(real_run, real_guest):
    _, vm = real_guest
    states = {name: real_run.result(name)["state"] for name in services_of(vm)}
    assert states == dict.fromkeys(services_of(vm), 0), {
        name: real_run.result(name)["output"] for name in services_of(vm)}
    assert real_run.hosts[vm.name]["state"] == 0


def test_the_guest_reports_real_numbers(real_run, real_guest):
    _, vm = real_guest
    cpu = perfdata(real_run.result(f"{vm.name}!vm-cpu"))
    assert 0 <= cpu["cpu_usage"].value < 50 and {"vcpu0_usage", "vcpu1_usage"} <= set(cpu)
    mem = perfdata(real_run.result(f"{vm.name}!vm-mem"))
    assert 0 < mem["mem_used"].value < vm.memory_kib * 1024 and mem["mem_used"].uom == "B"
    for disk in vm.disks:
        result = real_run.result(f"{vm.name}!disk {disk}")
        assert command_has(result, "--disk", disk)
        assert f"{disk}_capacity" in perfdata(result)
    nic = real_run.result(f"{vm.name}!nic {Nic().guest_mac}")
    assert command_has(nic, "--interface", Nic().guest_mac)
    assert f"{vm.tap}_rx_bits_per_second" in perfdata(nic)
