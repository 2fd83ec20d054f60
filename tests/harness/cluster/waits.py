"""Bounded waits on the master's API: results, states, and where they came from."""

from __future__ import annotations

from harness.polling import wait_for

from .node import ClusterNode

SERVICE_ATTRS = ("last_check_result", "state", "host_name")
HOST_JOINS = ("host.name", "host.vars")


def services(master: ClusterNode) -> dict[str, dict]:
    """Every service with its last result and its host's name and variables."""
    return master.objects("Service", *SERVICE_ATTRS, joins=HOST_JOINS)


def hosts(master: ClusterNode) -> dict[str, dict]:
    return master.objects("Host", "last_check_result", "state", "vars")


def agent_of(service: dict) -> str:
    """The endpoint that must run a service: its host's hypervisor (way a) or
    the hypervisor host's agent endpoint (way b)."""
    host_vars = service["joins"]["host"]["vars"] or {}
    return host_vars.get("hypervisor") or host_vars["agent_endpoint"]


def result_of(attrs: dict) -> dict:
    return attrs["last_check_result"] or {}


def every_service_checked(master: ClusterNode, timeout: float) -> dict[str, dict]:
    """Wait until every service and host of the master has a check result."""
    unchecked: list[str] = []

    def checked():
        found, found_hosts = services(master), hosts(master)
        unchecked[:] = [name for name, attrs in [*found.items(), *found_hosts.items()]
                        if not result_of(attrs)]
        return found if found and found_hosts and not unchecked else None
    try:
        return wait_for(checked, timeout, "a result of every service and host",
                        master.log_tail)
    except AssertionError as exc:
        raise AssertionError(f"not checked: {unchecked}\n{exc}") from None


def fresh_results(master: ClusterNode, names: list[str], since: float,
                  timeout: float) -> dict[str, dict]:
    """Wait until each named service has a result that started after `since`."""
    def fresh():
        found = services(master)
        done = all(result_of(found[n]).get("schedule_start", 0) > since for n in names)
        return found if done else None
    return wait_for(fresh, timeout, f"fresh results of {names}", master.log_tail)
