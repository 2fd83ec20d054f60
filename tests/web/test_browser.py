"""Icinga Web 2 in a real browser: a VM host, its services' graphs, the Director's history.

Headless Chromium logs in, opens a VM host the Director created and each of
its services, and finds that the graphite module drew the graphs of the
package's templates: every image loads, is a PNG of the size its URL asks
for, and is not graphite-web's "No Data" picture (drawn in red when a graph's
targets give no series; graphite-web also gives the same series as JSON with
values). It then opens the Director's import and sync history. Screenshots go
to build/web/ (one is README's).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest
from harness.paths import REPO
from harness.polling import wait_for
from harness.web import png
from harness.web.browser import browser
from harness.web.cycle import DirectorFlow

SHOTS = REPO / "build" / "web"
VM = "a-web"
RANGE = 600  # seconds of graph: the tier's few minutes of results fill it
NO_DATA_RED = (255, 0, 0)
SAMPLES = 3  # results per service before looking, so that each graph has a line
GRAPH_HEIGHT = 220  # the module's height for a template that sets none


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


@pytest.fixture(scope="module")
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


def test_each_service_shows_the_graphs_of_its_template(session, vm_services):
    for service, command in sorted(vm_services.items()):
        quoted = urllib.parse.quote(service)
        session.open(f"monitoring/service/show?host={VM}&service={quoted}"
                     f"&graph_range={RANGE}")
        images = session.images("img.graphiteImg")
        assert images, f"no graph on the page of {service}"
        for image in images:
            assert f"template=check_vm-{command[3:].replace('_', '-')}" in image["src"] \
                or "template=check_vm" in image["src"], image["src"]
            _check_graph(session, image)
        name = service.replace(" ", "-").replace(":", "")
        session.screenshot(SHOTS / f"service-{name}.png")
    session.open(f"monitoring/service/show?host={VM}&service=vm-cpu&graph_range={RANGE}")
    session.images("img.graphiteImg")
    print(f"screenshot: {session.screenshot(SHOTS / 'vm-in-icingaweb2.png')}")


@pytest.mark.parametrize(("kind", "name"), [("importsource", "check_vm VMs"),
                                            ("syncrule", "check_vm VM hosts")])
def test_the_directors_history_pages_show_the_runs(session, flow, kind, name):
    number = flow.director.ids(kind)[name]
    session.open(f"director/{kind}/history?id={number}")
    main = session.driver.find_element("id", "main").text
    assert name in main
    assert flow.runs(kind, number) >= 1
    print(f"screenshot: {session.screenshot(SHOTS / f'director-{kind}-history.png')}")
