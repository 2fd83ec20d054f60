"""An Icinga 2 master hands check_vm's checks to two agents and gets the results back.

Agent A checks the realvm tier's libvirtd (the commanded guest) and a
test-driver node; agent B a test-driver node of three domains. The master
holds both modelling ways; the results arrive with perfdata from the agent
of each VM's hypervisor. Then the faults: agent B stopped and started again,
and a VM that moves from B's node to A's.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest
from harness.cluster import config
from harness.cluster.cluster import AGENT_A, AGENT_B, INTERVAL, MASTER, inventory
from harness.cluster.testnodes import migrate
from harness.cluster.waits import agent_of, fresh_results, hosts, result_of, services
from harness.polling import wait_for

pytestmark = pytest.mark.realvm

NOT_CONNECTED = re.compile(r"Remote Icinga instance '([^']+)' is not connected to '([^']+)'")


def of_agent(found: dict[str, dict], agent: str) -> list[str]:
    return sorted(name for name, attrs in found.items() if agent_of(attrs) == agent)


def checked(objects, name: str, since: float, agent: str, state: int | None = None):
    """A condition: `name` among `objects()` (in `state`, if given), by a check that
    `agent` ran after `since`."""
    def condition():
        found = objects()[name]
        result = result_of(found)
        fresh = result.get("schedule_start", 0) > since
        in_state = state is None or found["state"] == state
        return found if fresh and in_state and result["check_source"] == agent else None
    return condition


def test_nodes_trust_only_the_master_ca(cluster):
    """Every node's certificate was signed by the CA on the master; both agents connected."""
    ca = cluster.master.data_dir / "ca" / "ca.crt"
    for name, node in cluster.nodes.items():
        cert = node.data_dir / "certs" / f"{name}.crt"
        verified = subprocess.run(["openssl", "verify", "-CAfile", str(ca), str(cert)],
                                  capture_output=True, text=True, timeout=30, check=False)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        subject = subprocess.run(["openssl", "x509", "-noout", "-subject", "-in", str(cert)],
                                 capture_output=True, text=True, timeout=30, check=True)
        assert subject.stdout.strip().replace(" ", "") == f"subject=CN={name}"
        assert (node.data_dir / "certs" / "ca.crt").read_bytes() == ca.read_bytes()
    status = cluster.master.api("/v1/status/ApiListener")["results"][0]["status"]["api"]
    assert sorted(status["conn_endpoints"]) == [AGENT_A, AGENT_B]
    assert status["zones"][AGENT_B]["parent_zone"] == MASTER


def test_every_result_comes_from_the_agent_of_its_hypervisor(cluster, real_guest):
    found = services(cluster.master)
    _, vm = real_guest
    assert of_agent(found, AGENT_A) and of_agent(found, AGENT_B)
    for name, attrs in found.items():
        result = result_of(attrs)
        assert result["check_source"] == agent_of(attrs), (name, result["output"])
        assert result["performance_data"], (name, result["output"])
        assert result["command"][0].startswith("/usr/lib/nagios/plugins/check_vm_"), name
    real = {name: result_of(a) for name, a in found.items() if a["host_name"] == vm.name}
    assert len(real) >= 4 and all(r["state"] == 0 for r in real.values()), {
        name: r["output"] for name, r in real.items()}


def test_both_ways_cover_the_guest_of_the_real_libvirtd(cluster, real_guest):
    _, vm = real_guest
    found = services(cluster.master)
    assert {f"{vm.name}!vm-cpu", f"{vm.name}!vm-mem"} <= set(found)      # way (a)
    assert {f"{AGENT_A}!vm-cpu {vm.name}", f"{AGENT_A}!vm-mem {vm.name}"} <= set(found)  # (b)
    for name in (f"{vm.name}!vm-cpu", f"{AGENT_A}!vm-cpu {vm.name}"):
        assert result_of(found[name])["check_source"] == AGENT_A


def test_per_vm_thresholds_set_on_the_master_decide_the_state(cluster):
    found = services(cluster.master)
    state = {name: result_of(attrs)["state"] for name, attrs in found.items()}
    assert state[f"{AGENT_B}!vm-cpu {config.CPU_CRITICAL_VM}"] == 2
    assert state[f"{AGENT_B}!vm-cpu {config.CPU_WARNING_VM}"] == 1
    assert state[f"{config.TUNED_HOST}!vm-cpu"] == 2
    # The same domains, as inventory hosts with the default thresholds: OK.
    assert state[f"{config.CPU_CRITICAL_VM}!vm-cpu"] == 0
    assert state[f"{config.CPU_WARNING_VM}!vm-cpu"] == 0
    command = result_of(found[f"{AGENT_B}!vm-cpu {config.CPU_WARNING_VM}"])["command"]
    assert command[command.index("--warning") + 1] == "40"


def test_inventory_output_compiles_and_runs_unchanged(cluster, real_guest, test_nodes):
    hypervisor, vm = real_guest
    etc = cluster.master.zones_d / MASTER
    for name, text in cluster.inventories.items():
        assert (etc / name).read_text() == text
    found_hosts = hosts(cluster.master)
    for domain in (vm.name, *config.B_DOMAINS):
        assert result_of(found_hosts[domain])["check_source"] in (AGENT_A, AGENT_B)
    assert found_hosts[vm.name]["state"] == 0
    assert inventory(hypervisor.uri, AGENT_A) == cluster.inventories[f"inventory-{AGENT_A}.conf"]
    assert cluster.validate_master() == ""


def test_a_migrated_vm_missing_on_the_old_hypervisor_then_found_on_the_new(
        cluster, real_guest, test_nodes):
    master, vm_name = cluster.master, config.MIGRATING_VM
    migrate(vm_name, test_nodes[AGENT_B], test_nodes[AGENT_A])
    moved_at = time.time()

    down = wait_for(checked(lambda: hosts(master), vm_name, moved_at, AGENT_B, state=1),
                    15 + 4 * INTERVAL,
                    f"{vm_name} DOWN on {AGENT_B}", master.log_tail)
    assert f"no domain '{vm_name}'" in result_of(down)["output"], down
    print(f"{vm_name} moved: DOWN on {AGENT_B} after {time.time() - moved_at:.1f} s: "
          f"{result_of(down)['output'].splitlines()[0]}")

    # What docs/cluster.md tells the operator: re-run the inventories, reload the master.

    for name, text in {f"inventory-{AGENT_A}-node.conf":
                       inventory(test_nodes[AGENT_A].uri, AGENT_A),
                       f"inventory-{AGENT_B}.conf":
                       inventory(test_nodes[AGENT_B].uri, AGENT_B)}.items():
        cluster.add_master_config(name, text)
    assert cluster.validate_master() == ""
    reloaded_at = time.time()
    master.reload()
    # A check the old worker handed to agent B just before the reload may still come
    # back afterwards; what must follow is a check that agent A runs.
    up = wait_for(checked(lambda: hosts(master), vm_name, reloaded_at, AGENT_A, state=0),
                  3 * INTERVAL, f"{vm_name} UP on {AGENT_A}", master.log_tail)
    assert up["vars"]["hypervisor"] == AGENT_A
    service = f"{vm_name}!vm-cpu"
    wait_for(checked(lambda: services(master), service, reloaded_at, AGENT_A), 3 * INTERVAL,
             f"{service} checked by {AGENT_A}", master.log_tail)
    print(f"{vm_name} after the reload: UP on {AGENT_A} "
          f"{time.time() - reloaded_at:.1f} s after the reload")


def test_a_stopped_agent_gives_unknown_never_a_fresh_ok_and_comes_back(cluster):
    master, agent = cluster.master, cluster.nodes[AGENT_B]
    names = of_agent(services(master), AGENT_B)
    agent.stop()  # SIGTERM to its PID, as systemctl stop does; returns once it has exited
    # Not before the stop: a check the master hands out while the agent shuts down
    # may still run and come back OK.
    stopped_at = time.time()

    def all_unknown():
        found = services(master)
        for name in names:
            result = result_of(found[name])
            assert not (result["state"] == 0 and result["schedule_start"] > stopped_at), (
                f"{name}: a fresh OK while {AGENT_B} is down: {result['output']}")
        matched = [NOT_CONNECTED.search(result_of(found[n])["output"]) for n in names]
        ok = all(m and m.groups() == (AGENT_B, MASTER) and result_of(found[n])["state"] == 3
                 for n, m in zip(names, matched))
        return found if ok else None
    wait_for(all_unknown, 6 * INTERVAL + 330, "UNKNOWN from every service of the stopped "
             "agent", master.log_tail)
    assert hosts(master)[AGENT_B]["state"] == 1  # way (b): its cluster-zone check DOWN
    print(f"{AGENT_B} stopped: all {len(names)} services UNKNOWN after "
          f"{time.time() - stopped_at:.1f} s")

    agent.start()
    connected = wait_for(lambda: AGENT_B in cluster.connected() and time.time(), 60,
                         f"{AGENT_B} to reconnect", master.log_tail)
    back = fresh_results(master, names, connected, timeout=INTERVAL + 5)
    for name in names:
        assert result_of(back[name])["check_source"] == AGENT_B
    print(f"{AGENT_B} back: every result fresh {time.time() - connected:.1f} s after "
          "reconnecting")
