"""The Director keeps check_vm's hosts by itself, and Icinga Web 2 shows their graphs.

Into an empty Director: the kickstart (the package's CheckCommands arrive as
external commands), the package's basket, the installed feed run as its
systemd unit runs it, and the basket's jobs run by the Director's own daemon.
No Icinga configuration is written by hand: the master's zones.d stays empty.
Then every VM of both test-driver hypervisors is a host in its hypervisor's
zone with its services, checked by that hypervisor's agent, with perfdata; a
VM defined appears after one cycle, one undefined disappears, and one migrated
keeps its host object and history and is checked on its new hypervisor.

In a real browser (headless Chromium): Icinga Web 2 shows a VM host the
Director created and each of its services with the graphs of the package's
templates, drawn by the graphite module: every image loads, is a PNG of the
size its URL asks for, and is not graphite-web's "No Data" picture (drawn in
red when a graph's targets give no series; graphite-web gives the same series
as JSON with values). The Director's import and sync history pages show the
runs. Screenshots go to build/web/ (one is README's).
"""

from __future__ import annotations

import configparser
import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
from harness.cluster.cluster import AGENT_A, AGENT_B
from harness.cluster.testnodes import mac_of, migrate
from harness.paths import REPO
from harness.polling import poll, wait_for
from harness.web import png
from harness.web.browser import browser
from harness.web.cycle import DirectorFlow
from harness.web.stack import WebStack
from harness.web.tier import director_ready

PACKAGE_COMMANDS = {"vm_cpu", "vm_mem", "vm_disk_io", "vm_nic", "vm_alive", "vm_host",
                    "vm_pool"}
# A migrated host's first check on its new agent: within one check interval (60 s)
# of the deployment, plus the agent's reload.
MOVED_TIMEOUT = 150
MIGRATING = "a-db"
LEFT_TIMEOUT = 10  # Chromium's processes take a second or two to go after quit
UP = 0.0
SHOTS = REPO / "build" / "web"
GRAPH_TEMPLATES = Path("/usr/share/check-vm/graphs/icingaweb2")
VM = "a-web"
RANGE = 600  # seconds of graph: the tier's few minutes of results fill it
NO_DATA_RED = (255, 0, 0)
SAMPLES = 3  # results per service before looking, so that each graph has a line
GRAPH_HEIGHT = 220  # the module's height for a template that sets none


@pytest.fixture(scope="module")
def flow(package) -> Iterator[DirectorFlow]:
    """Kickstart, the basket restored, the feed's files, the jobs run once by the daemon."""
    with director_ready() as ready:
        yield ready


@pytest.fixture(scope="module")
def web_stack(flow: DirectorFlow) -> WebStack:
    """This module's stack: the one the Director's fileshipper reads the feed in."""
    return flow.stack


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
    assert sorted(jobs) == ["check_vm 1 import VMs", "check_vm 2 import hypervisors",
                            "check_vm 3 sync VM hosts", "check_vm 4 sync hypervisors",
                            "check_vm 5 deploy"]
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
        # The test driver's balloon has no stats period: vm-mem says so, UNKNOWN.
        assert result["exit_status"] in (0, 1) or "(no stats period)" in result["output"], (
            key, result["output"])
    for vm in vms:
        assert by_host[vm] == {"vm-cpu", "vm-mem", "disk vda", f"nic {mac_of(vm)}"}


def test_each_hypervisor_is_a_host_with_vm_host_and_vm_pool(flow, web_stack):
    found = flow.hosts()
    checked = flow.check_now(set(web_stack.nodes))
    for agent, node in web_stack.nodes.items():
        assert found[agent]["zone"] == "master"
        assert sorted(found[agent]["vars"]["vm_expected_domains"]) == sorted(node.domains)
        for service in ("vm-host", "vm-pool"):
            result = checked[f"{agent}!{service}"]["last_check_result"]
            assert result["check_source"] == agent
            assert result["exit_status"] == 0, result["output"]
    assert "2 running" in checked[f"{AGENT_A}!vm-host"]["last_check_result"]["output"]
    for agent in web_stack.nodes:  # vm-hypervisor's host check: cluster-zone, from the master
        result = flow.hosts()[agent]["last_check_result"]
        assert (result["check_source"], result["state"]) == ("master", UP), result["output"]


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
    said = flow.cycle()
    assert "b-new" not in vm_hosts(flow), said
    assert not [key for key in flow.services() if key.startswith("b-new!")]
    assert web_stack.sql("director", "SELECT COUNT(*) FROM icinga_host "
                                     "WHERE object_name = 'b-new'") == [("0",)]


def _director_counts(stack) -> list[tuple[str, ...]]:
    tables = ("icinga_host", "icinga_service", "icinga_service_set", "director_datafield",
              "director_datafield_category", "import_source", "sync_rule", "sync_property",
              "director_job")
    return stack.sql("director", " UNION ALL ".join(
        f"SELECT '{table}', COUNT(*) FROM {table}" for table in tables))


def test_a_second_restore_of_the_basket_changes_nothing(flow, web_stack):
    before = _director_counts(web_stack)
    flow.restore_basket()
    assert _director_counts(web_stack) == before


def test_the_sync_restores_what_it_maps_and_keeps_what_an_operator_set(flow, web_stack):
    flow.director.run("host", "set", "a-web", "--vars.vm_cpu_warning", "70",
                      "--vars.vm_disks", "edited by hand")
    said = flow.cycle()
    assert "New data has been imported" in said or "has been deployed" in said
    host = json.loads(flow.director.run("host", "show", "a-web", "--json").stdout)
    assert host["vars"]["vm_cpu_warning"] == "70"
    assert host["vars"]["vm_disks"] == ["vda"]
    assert flow.hosts()["a-web"]["vars"]["vm_cpu_warning"] == "70"


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


# -- in a real browser -----------------------------------------------------------------

def graphite_name(name: str) -> str:
    """A host or service name as Icinga 2's GraphiteWriter writes it into a path."""
    for char in " ./\\":
        name = name.replace(char, "_")
    return name


def stored_values(stack, pattern: str) -> list[float]:
    """The non-null values graphite-web renders for a series pattern, last 10 minutes."""
    query = urllib.parse.urlencode({"target": pattern, "format": "json", "from": "-10min"})
    with urllib.request.urlopen(f"{stack.graphite_url}/render?{query}", timeout=30) as answer:
        series = json.load(answer)
    return [value for line in series for value, _ in line["datapoints"] if value is not None]


@pytest.fixture(scope="module")
def vm_services(flow: DirectorFlow, web_stack) -> dict[str, str]:
    """The VM's services (name -> check command), each checked SAMPLES times, stored."""
    for _ in range(SAMPLES):
        flow.check_now({VM})
    found = {key.split("!", 1)[1]: attrs["check_command"]
             for key, attrs in flow.services().items() if attrs["host_name"] == VM}
    for service, command in found.items():
        pattern = f"icinga2.{VM}.services.{graphite_name(service)}.{command}.perfdata.*.value"
        wait_for(lambda pattern=pattern: len(stored_values(web_stack, pattern)) >= SAMPLES,
                 60, f"{SAMPLES} values of {pattern} in graphite-web")
    return found


@pytest.fixture
def session(web_stack, tmp_path_factory):
    with browser(web_stack.base_url, tmp_path_factory.mktemp("chromium-profile")) as opened:
        opened.login(*web_stack.login)
        yield opened


def test_the_vm_host_page_lists_its_services(session, vm_services):
    session.open(f"monitoring/host/show?host={VM}")
    text = session.driver.find_element("id", "main").text
    assert VM in session.driver.title
    for service in vm_services:
        session.open(f"monitoring/list/services?host={VM}")
        assert service in session.driver.find_element("id", "main").text
    session.open(f"monitoring/list/services?host={VM}")
    print(f"screenshot: {session.screenshot(SHOTS / 'vm-services.png')}")
    assert text


def _check_graph(session, image: dict) -> None:
    status, kind, body = session.fetch(image["src"])
    assert (status, kind) == (200, "image/png"), (image["src"], body[:200])
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(image["src"]).query)
    asked = (int(query["width"][0]), int(query["height"][0]))
    assert png.size(body) == asked == (image["naturalWidth"], image["naturalHeight"])
    assert asked[1] >= GRAPH_HEIGHT
    picture = png.decode(body)
    assert NO_DATA_RED not in picture.pixels, f"graphite-web drew No Data: {image['src']}"


def shipped_templates(command: str) -> set[str]:
    """The package's graph templates (installed) for a check command."""
    found = set()
    for path in GRAPH_TEMPLATES.glob("*.ini"):
        parser = configparser.ConfigParser()
        parser.read(path)
        found |= {section[:-len(".graph")] for section in parser.sections()
                  if section.endswith(".graph")
                  and command in parser[section]["check_command"].strip('"').split(",")}
    return found


def templates_drawn(images: list[dict]) -> set[str]:
    """The templates the module drew the images with (those of the package name
    theirs; the module's default template draws the labels none covers)."""
    return {query["template"][0] for query in
            (urllib.parse.parse_qs(urllib.parse.urlsplit(image["src"]).query)
             for image in images) if "template" in query}


def test_each_service_shows_the_graphs_of_its_template(session, vm_services):
    for service, command in sorted(vm_services.items()):
        quoted = urllib.parse.quote(service)
        session.open(f"monitoring/service/show?host={VM}&service={quoted}"
                     f"&graph_range={RANGE}")
        images = session.images("img.graphiteImg")
        drawn = templates_drawn(images)
        assert drawn and drawn <= shipped_templates(command), (service, drawn)
        for image in images:
            _check_graph(session, image)
        name = service.replace(" ", "-").replace(":", "")
        session.screenshot(SHOTS / f"service-{name}.png")
    session.open(f"monitoring/service/show?host={VM}&service=vm-cpu&graph_range={RANGE}")
    session.images("img.graphiteImg")
    print(f"screenshot: {session.screenshot(SHOTS / 'vm-in-icingaweb2.png')}")


@pytest.mark.parametrize(("kind", "name", "words"), [
    ("importsource", "check_vm VMs", ()),
    ("syncrule", "check_vm VM hosts", ("created", "deleted", "modified"))])
def test_the_directors_history_pages_show_the_runs(session, flow, kind, name, words):
    """After the cycles above, a sync created, deleted (b-new) and modified (a-db's
    zone) hosts."""
    number = flow.director.ids(kind)[name]
    session.open(f"director/{kind}/history?id={number}")
    main = session.driver.find_element("id", "main").text
    assert name in main
    assert all(word in main for word in words), main
    assert flow.runs(kind, number) >= 2
    print(f"screenshot: {session.screenshot(SHOTS / f'director-{kind}-history.png')}")


def test_nothing_is_left_after_stop(flow, web_stack):
    """Last: the stack's stop (the fixture's is then a no-op), the Director's daemon
    and every browser included."""
    web_stack.stop()
    assert poll(lambda: not web_stack.left_running(), LEFT_TIMEOUT, 0.2), \
        web_stack.left_running()
