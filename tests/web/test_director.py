"""The Director keeps check_vm's hosts by itself, from the package's parts only.

Into an empty Director: the kickstart (the package's CheckCommands arrive as
external commands), the package's basket, the installed feed run as its
systemd unit runs it, and the basket's jobs run by the Director's own daemon.
No Icinga configuration is written by hand: the master's zones.d stays empty.
Then every VM of both test-driver hypervisors is a host in its hypervisor's
zone with its services, checked by that hypervisor's agent, with perfdata; a
VM defined appears after one cycle, one undefined disappears, and one migrated
keeps its host object and history and is checked on its new hypervisor.
"""

from __future__ import annotations

import time
from typing import Iterator

import pytest
from harness.cluster.cluster import AGENT_A, AGENT_B
from harness.cluster.testnodes import mac_of, migrate
from harness.polling import wait_for
from harness.web.cycle import DirectorFlow
from harness.web.feed import Feed

PACKAGE_COMMANDS = {"vm_cpu", "vm_mem", "vm_disk_io", "vm_nic", "vm_alive", "vm_host",
                    "vm_pool"}
CHECKED_TIMEOUT = 90
# A migrated host's first check on its new agent: within one check interval (60 s)
# of the deployment, plus the agent's reload.
MOVED_TIMEOUT = 150
MIGRATING = "a-db"
UP, DOWN = 0.0, 1.0


@pytest.fixture(scope="module")
def flow(web_stack) -> Iterator[DirectorFlow]:
    """Kickstart, the basket restored, the feed's files, the jobs run once by the daemon."""
    feed = Feed([f"{agent} {node.uri}" for agent, node in web_stack.nodes.items()])
    feed.set_up()
    try:
        director = DirectorFlow(web_stack, feed)
        director.kickstart()
        director.restore_basket()
        feed.run()
        took = director.run_jobs_by_daemon()
        print(f"web tier: the Director's daemon ran the five jobs and deployed in {took:.1f} s")
        yield director
    finally:
        feed.remove()


def vm_hosts(flow: DirectorFlow) -> dict[str, dict]:
    return {name: attrs for name, attrs in flow.hosts().items()
            if "vm-host" in attrs["templates"]}


def expected_vms(stack) -> dict[str, str]:
    """VM -> the agent whose node file defines it now."""
    return {vm: agent for agent, node in stack.nodes.items() for vm in node.domains}


def test_kickstart_imports_the_package_commands_as_external_commands(flow):
    assert flow.external_commands() >= PACKAGE_COMMANDS


def test_the_daemon_ran_every_job_of_the_basket(flow):
    jobs = flow.jobs()
    assert sorted(jobs) == ["check_vm deploy", "check_vm import VMs",
                            "check_vm import hypervisors", "check_vm sync VM hosts",
                            "check_vm sync hypervisors"]
    assert {succeeded for succeeded, _ in jobs.values()} == {"y"}, jobs


def test_no_check_vm_configuration_is_written_by_hand(flow, web_stack):
    zones_d = web_stack.master.zones_d
    assert not zones_d.exists() or not any(path.is_file() for path in zones_d.rglob("*"))


def test_every_vm_is_a_host_in_its_hypervisors_zone(flow, web_stack):
    found = vm_hosts(flow)
    assert {name: attrs["zone"] for name, attrs in found.items()} == expected_vms(web_stack)
    for name, attrs in found.items():
        node = web_stack.nodes[attrs["zone"]]
        assert attrs["vars"]["vm_connect"] == node.uri
        assert attrs["vars"]["vm_name"] == name
        assert attrs["vars"]["vm_disks"] == ["vda"]


def test_every_vm_service_is_checked_by_its_hypervisor_with_perfdata(flow, web_stack):
    vms = expected_vms(web_stack)
    checked = flow.check_now(set(vms))
    by_host: dict[str, set[str]] = {}
    for key, attrs in checked.items():
        by_host.setdefault(attrs["host_name"], set()).add(key.split("!", 1)[1])
        result = attrs["last_check_result"]
        assert result["check_source"] == vms[attrs["host_name"]], key
        assert attrs["zone"] == vms[attrs["host_name"]]
        assert result["performance_data"], (key, result["output"])
        assert result["exit_status"] in (0, 1), (key, result["output"])
    for vm in vms:
        assert by_host[vm] == {"vm-cpu", "vm-mem", "disk vda", f"nic {mac_of(vm)}"}


def test_each_hypervisor_is_a_host_with_vm_host_and_vm_pool(flow, web_stack):
    found = flow.hosts()
    checked = flow.check_now(set(web_stack.nodes))
    for agent, node in web_stack.nodes.items():
        assert found[agent]["zone"] == agent
        assert sorted(found[agent]["vars"]["vm_expected_domains"]) == sorted(node.domains)
        for service in ("vm-host", "vm-pool"):
            result = checked[f"{agent}!{service}"]["last_check_result"]
            assert result["check_source"] == agent
            assert result["exit_status"] == 0, result["output"]
    assert "2 running" in checked[f"{AGENT_A}!vm-host"]["last_check_result"]["output"]


def test_a_defined_vm_appears_after_one_cycle_and_an_undefined_one_goes(flow, web_stack):
    node = web_stack.nodes[AGENT_B]
    node.domains.append("b-new")
    node.write()
    said = flow.cycle()
    assert "New data has been imported" in said
    assert vm_hosts(flow)["b-new"]["zone"] == AGENT_B
    checked = flow.check_now({"b-new"})
    assert checked["b-new!vm-cpu"]["last_check_result"]["check_source"] == AGENT_B
    node.domains.remove("b-new")
    node.write()
    flow.cycle()
    assert "b-new" not in vm_hosts(flow)
    assert not [key for key in flow.services() if key.startswith("b-new!")]
    assert web_stack.sql("director", "SELECT COUNT(*) FROM icinga_host "
                                     "WHERE object_name = 'b-new'") == [("0",)]


def _ido_host(stack, name: str) -> tuple[str, ...]:
    rows = stack.sql("icinga2ido", "SELECT object_id, is_active FROM icinga_objects WHERE "
                                   f"objecttype_id = 1 AND name1 = '{name}'")
    assert len(rows) == 1, rows
    return rows[0]


def test_a_migrated_vm_keeps_its_host_and_history_and_is_checked_on_its_new_hypervisor(
        flow, web_stack):
    flow.check_now({MIGRATING})
    director_id = web_stack.sql("director", "SELECT id FROM icinga_host WHERE "
                                            f"object_name = '{MIGRATING}'")
    ido_before = _ido_host(web_stack, MIGRATING)
    seen: dict[float, dict] = {}

    def record() -> dict:
        result = flow.hosts()[MIGRATING]["last_check_result"] or {}
        if result:
            seen.setdefault(result["execution_end"], result)
        return result

    last_on_a = record()
    assert last_on_a["check_source"] == AGENT_A
    migrated_at = time.time()
    migrate(MIGRATING, web_stack.nodes[AGENT_A], web_stack.nodes[AGENT_B])
    flow.cycle()
    deployed_at = time.time()
    assert flow.hosts()[MIGRATING]["zone"] == AGENT_B

    def checked_on_b():
        result = record()
        return result if result.get("check_source") == AGENT_B else None
    first_on_b = wait_for(checked_on_b, MOVED_TIMEOUT, f"a check of {MIGRATING} on {AGENT_B}",
                          web_stack.master.log_tail, interval=0.5)
    before_deploy = [r for r in seen.values() if r["execution_end"] < deployed_at]
    after_deploy = [r for r in seen.values() if r["execution_end"] >= deployed_at]
    print(f"web tier: {MIGRATING} migrated; the cycle took {deployed_at - migrated_at:.1f} s; "
          f"last result on {AGENT_A} at -{migrated_at - last_on_a['execution_end']:.1f} s, "
          f"first on {AGENT_B} {first_on_b['execution_end'] - deployed_at:.1f} s after the "
          f"deployment ({first_on_b['execution_end'] - last_on_a['execution_end']:.1f} s "
          f"between the two results); results before the deployment: "
          f"{[(r['check_source'], r['state']) for r in before_deploy]}")
    assert [(r["check_source"], r["state"]) for r in after_deploy] == [(AGENT_B, UP)]
    assert first_on_b["state"] == UP, first_on_b["output"]
    assert web_stack.sql("director", "SELECT id FROM icinga_host WHERE "
                                     f"object_name = '{MIGRATING}'") == director_id
    assert _ido_host(web_stack, MIGRATING) == ido_before
    moved = flow.check_now({MIGRATING})
    assert {attrs["last_check_result"]["check_source"] for attrs in moved.values()} == {AGENT_B}
    hypervisors = flow.hosts()
    assert MIGRATING not in hypervisors[AGENT_A]["vars"]["vm_expected_domains"]
    assert MIGRATING in hypervisors[AGENT_B]["vars"]["vm_expected_domains"]
