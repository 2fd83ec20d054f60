"""What the master checks: both modelling ways, per-VM thresholds, the inventories.

Way (a): the VMs as hosts, from the package's check_vm_inventory run for
each agent's hypervisor (its files put into zones.d/master unchanged), and
one hand-kept VM host with thresholds of its own. Way (b): each agent's
hypervisor a host whose vars.vms holds its VMs with per-VM thresholds. The
test-driver domains run at 50 % CPU: a critical threshold of 40 makes one
CRITICAL, a warning threshold of 40 another WARNING.
"""

from __future__ import annotations

import json

from .cluster import AGENT_A, AGENT_B, INTERVAL

CPU_CRITICAL_VM = "b-web"     # way (b): vm_cpu_critical = 40
CPU_WARNING_VM = "b-db"       # way (b): vm_cpu_warning = 40
TUNED_HOST = "b-db tuned"     # way (a): a hand-kept host of b-db, vm_cpu_critical = 40
MIGRATING_VM = "b-mig"
B_DOMAINS = [CPU_CRITICAL_VM, CPU_WARNING_VM, MIGRATING_VM]


def quoted(text: str) -> str:
    return json.dumps(text)


def hypervisor_hosts(real_domain: str, node_b_uri: str) -> str:
    """Way (b), as example-hypervisor-vms.conf: one host per agent's hypervisor."""
    return f"""\
object Host "{AGENT_A}" {{
	check_command = "cluster-zone"
	check_interval = {INTERVAL}s
	vars.agent_endpoint = name
	vars.vm_connect = "qemu:///system"
	vars.vms[{quoted(real_domain)}] = {{ }}
}}

object Host "{AGENT_B}" {{
	check_command = "cluster-zone"
	check_interval = {INTERVAL}s
	vars.agent_endpoint = name
	vars.vm_connect = {quoted(node_b_uri)}
	vars.vms[{quoted(CPU_CRITICAL_VM)}] = {{
		vm_cpu_critical = "40"
	}}
	vars.vms[{quoted(CPU_WARNING_VM)}] = {{
		vm_cpu_warning = "40"
		vm_cpu_critical = [ "60", "vcpu_usage=99" ]
	}}
}}
"""


def tuned_host(node_b_uri: str) -> str:
    """Way (a), as example-hosts-per-vm.conf: a hand-kept host with its thresholds."""
    return f"""\
object Host {quoted(TUNED_HOST)} {{
	import "vm-host"

	vars.hypervisor = "{AGENT_B}"
	command_endpoint = vars.hypervisor
	vars.vm_name = {quoted(CPU_WARNING_VM)}
	vars.vm_connect = {quoted(node_b_uri)}
	vars.vm_disks = [ "vda" ]
	vars.vm_interfaces = {{ }}

	vars.vm_cpu_critical = "40"
}}
"""
