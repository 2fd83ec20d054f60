"""Icinga 2 graphs a real guest into real Graphite and InfluxDB while the test commands work.

One daemon (graphtier.py) runs vm-cpu, vm-mem, vm-disk-io and vm-nic every
INTERVAL seconds against the realvm tier's guest, and the hypervisor's vm-host
and vm-pool against its libvirtd, with a GraphiteWriter into carbon-cache and
an InfluxdbWriter into InfluxDB. Every assertion reads the databases: series
names from carbon's whisper files and InfluxQL, values from the render API's
JSON. The work is known: BUSY_SECONDS of one busy
vCPU, 32 MiB written and 16 MiB read, PINGS pings of PING_FRAME bytes each
way, 64 MiB held and freed. A rate stored at a point is work over the time
between the samples of two runs, which the wrappers' clock readings bound
(timedplugins.py, realvm/bracket.py): summed over the points around a
stretch, rate x shortest <= work <= rate x longest. Counters (`c`) must move
by the work exactly where nothing else moves them.

With CHECK_VM_GRAPHS_OUT set (`make graphs`), the PNGs go there, and
CHECK_VM_GRAPHS_ROUNDS rounds of work are commanded instead of one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import pytest
from harness.graphs.graphtier import (
    BUSY_SECONDS,
    BUSY_VCPU,
    HELD_MIB,
    HYPERVISOR_SERVICES,
    MIB,
    PING_FRAME,
    PINGS,
    POLL_MARGIN,
    READ_DISK,
    READ_MIB,
    REQUEST_BYTES,
    SERVICES,
    STATS_PERIOD,
    WRITE_DISK,
    WRITE_MIB,
    GraphRun,
    graph_run,
)
from harness.graphs.hypervisorhost import POOL, POOL_MIB
from harness.graphs.pictures import HEIGHT, WIDTH, png_size, render_all
from harness.graphs.stored import graphite_series
from harness.graphs.timedplugins import Run, bracket_of, run_index
from harness.paths import REPO
from harness.vm.bracket import MAX_SPREAD, Bracket
from harness.vm.realguest import module_guest

pytestmark = pytest.mark.realvm

OUT = os.environ.get("CHECK_VM_GRAPHS_OUT")
ROUNDS = int(os.environ.get("CHECK_VM_GRAPHS_ROUNDS", "1"))
MAX_PNG_BYTES = 60 * 1024
# The CPU time a busy stretch adds, as realvm/test_cpu_accuracy.py allows it (TCG
# overhead, the shell running the command, a loaded host), plus the guest's idle
# vCPU over the window around it.
BUSY_TOLERANCE_SECONDS = 0.6
IDLE_SHARE = 0.02
# The guest's own allocations between a balloon poll and the check's read, as
# realvm/test_mem_accuracy.py allows them.
MEM_TOLERANCE = 4 * MIB
LABEL = re.compile(r"[A-Za-z0-9_-]+")
THRESHOLD_KINDS = ("value", "warn", "crit", "min", "max")

# Labels each check must have stored for this guest (2 vCPUs, vda and vdb, one tap).
CPU_LABELS = {"cpu_usage", "cpu_user", "cpu_system", "cpu_steal", "cpu_time_ns",
              "vcpu0_usage", "vcpu1_usage", "vcpu0_steal", "vcpu1_steal"}
MEM_LABELS = {"mem_usage", "mem_used", "mem_available", "mem_usable", "mem_unused",
              "balloon_actual", "host_rss", "host_rss_usage", "swap_in_bytes_per_second",
              "swap_out_bytes_per_second", "major_faults_per_second",
              "minor_faults_per_second"}
DISK_METRICS = ("ops_per_second", "read_bytes_per_second", "write_bytes_per_second",
                "read_ops_per_second", "write_ops_per_second", "read_latency",
                "write_latency", "flush_ops_per_second", "read_bytes", "write_bytes",
                "capacity", "allocation")
NIC_METRICS = ("rx_bits_per_second", "tx_bits_per_second", "rx_packets_per_second",
               "tx_packets_per_second", "rx_errors_per_second", "tx_errors_per_second",
               "rx_drops_per_second", "tx_drops_per_second", "rx_errors_pct",
               "tx_errors_pct", "rx_drops_pct", "tx_drops_pct", "rx_bytes", "tx_bytes")


@pytest.fixture(scope="module")
def real_guest(request):
    """The realvm tier's guest if this directory sees it, else one of the module's own."""
    with module_guest(request, "graphs") as pair:
        yield pair


@pytest.fixture(scope="module")
def graph(tmp_path_factory, icinga_installed, carbon, graphite_web, influxdb,
          real_guest) -> Iterator[GraphRun]:
    hypervisor, vm = real_guest
    root = tmp_path_factory.mktemp("icinga2-graphs")
    with graph_run(root, carbon, graphite_web, influxdb, hypervisor, vm, ROUNDS) as run:
        yield run


def stored_series(run: GraphRun) -> set[str]:
    """The name of every series Graphite stored in the run."""
    return graphite_series(run.carbon.whisper_dir)


@pytest.fixture(scope="module")
def stored(graph) -> set[str]:
    return stored_series(graph)


def expected_labels(run: GraphRun) -> dict[str, set[str]]:
    """service -> the labels it must have stored."""
    disks = {f"{disk}_{metric}" for disk in run.vm.disks for metric in DISK_METRICS}
    nic = {f"{run.vm.tap}_{metric}" for metric in NIC_METRICS}
    nic |= {"total_rx_bits_per_second", "total_tx_bits_per_second"}
    return {"vm-cpu": CPU_LABELS, "vm-mem": MEM_LABELS, "vm-disk-io": disks, "vm-nic": nic}


def graphite_labels(run: GraphRun, stored: set[str], service: str) -> dict[str, set[str]]:
    """label -> the kinds (value, warn, ...) Graphite stored for the service."""
    prefix = re.escape(run.prefix(service) + ".perfdata.")
    found: dict[str, set[str]] = {}
    for name in stored:
        match = re.fullmatch(prefix + r"(.+)\.([a-z]+)", name)
        if match:
            found.setdefault(match[1], set()).add(match[2])
    return found


# -- (a) the series and their names ----------------------------------------------------

def test_graphite_stores_every_label_under_the_documented_name(graph, stored):
    services = f"icinga2.{graph.host}.services."
    assert {name for name in stored if name.startswith(services)} == {
        name for service in SERVICES for name in stored
        if name.startswith(graph.prefix(service) + ".perfdata.")}
    for service, labels in expected_labels(graph).items():
        found = graphite_labels(graph, stored, service)
        assert labels <= set(found), (service, labels - set(found))
        assert all(LABEL.fullmatch(label) for label in found), sorted(found)
        assert all("value" in kinds and kinds <= set(THRESHOLD_KINDS)
                   for kinds in found.values()), found
    cpu = graphite_labels(graph, stored, "vm-cpu")
    # The shipped command's default thresholds and the percentage's range.
    assert cpu["cpu_usage"] == {"value", "warn", "crit", "min", "max"}
    assert graph.graphite_points("vm-cpu", "cpu_usage", "warn")
    assert set(graph.graphite_points("vm-cpu", "cpu_usage", "crit").values()) == {95.0}


def test_influxdb_stores_a_measurement_per_command_tagged_by_host_service_and_label(
        graph, stored):
    points = [point for point in graph.points() if point.tags.get("hostname") == graph.host]
    by_service: dict[str, set[str]] = {}
    for point in points:
        service = point.tags.get("service")
        if service is None:
            continue
        assert point.measurement == SERVICES[service]
        if point.label is None:  # the metadata point of a check result
            assert set(point.tags) == {"hostname", "service"} and "state" in point.fields
            continue
        assert set(point.tags) == {"hostname", "service", "metric"}
        assert "value" in point.fields
        by_service.setdefault(service, set()).add(point.label)
    for service in SERVICES:
        assert by_service[service] == set(graphite_labels(graph, stored, service)), service


def test_both_databases_hold_the_same_points(graph):
    influx: dict[tuple[str, str], dict[int, float]] = {}
    for point in graph.points():
        if point.label and "service" in point.tags and point.tags["hostname"] == graph.host:
            key = (point.tags["service"], point.label)
            influx.setdefault(key, {})[point.timestamp] = point.fields["value"]
    graphite = {key: graph.graphite_points(*key) for key in influx}
    # The GraphiteWriter drops the results it gets before its connection to carbon
    # is up (its first attempt comes 10 s after the start): the first result of a
    # service may be missing there. A result of the daemon's last moment may be
    # missing from either.
    connected = min(min(points) for points in graphite.values() if points)
    compared = 0
    for key, values in influx.items():
        expected = {stamp: value for stamp, value in values.items()
                    if connected <= stamp < graph.settled - 1}
        assert len([stamp for stamp in values if stamp < connected]) <= 1, key
        assert {stamp for stamp in graphite[key] if stamp < graph.settled - 1} == \
            expected.keys(), key
        for stamp, value in expected.items():
            assert graphite[key][stamp] == pytest.approx(value, rel=1e-9, abs=1e-6), key
            compared += 1
    assert compared > 500


def test_templates_name_only_stored_series(stored):
    try:
        from harness.graphs.templatecheck import template_problems
    except ImportError as exc:
        if (REPO / "tests" / "harness" / "graphs" / "templatecheck.py").exists():
            raise
        pytest.fail(f"tests/harness/graphs/templatecheck.py is missing: {exc}")
    # Every template, the hypervisor's too: the daemon runs every check.
    assert template_problems(stored) == []


def test_the_hypervisors_services_store_its_vms_and_pools(graph, stored):
    host_series = {name for name in stored
                   if name.startswith(f"icinga2.{graph.hypervisor_host}.services.")}
    assert host_series == {name for service in HYPERVISOR_SERVICES for name in stored
                           if name.startswith(graph.prefix(service) + ".perfdata.")}
    running = graph.graphite_points("vm-host", "running")
    assert running and min(running.values()) >= 1, running
    # The guest is the domain the Host expects, and it is there.
    gone = graph.graphite_points("vm-host", "gone")
    assert gone and set(gone.values()) == {0}, gone
    cpus = graph.graphite_points("vm-host", "host_cpus")
    vcpus = graph.graphite_points("vm-host", "active_vcpus")
    overcommit = graph.graphite_points("vm-host", "vcpu_overcommit")
    assert overcommit and overcommit.keys() == cpus.keys() == vcpus.keys()
    for stamp, ratio in overcommit.items():
        assert vcpus[stamp] >= graph.vm.vcpus, (stamp, vcpus[stamp])
        assert ratio == pytest.approx(vcpus[stamp] / cpus[stamp], abs=0.005), stamp
    assert graph.pools
    for pool in graph.pools:
        usage = graph.graphite_points("vm-pool", f"{pool}_usage")
        assert usage and all(0 <= value <= 100 for value in usage.values()), (pool, usage)
        capacity = graph.graphite_points("vm-pool", f"{pool}_capacity")
        if pool == POOL:  # the tier's own pool: an empty tmpfs, measured by statvfs
            assert set(capacity.values()) == {POOL_MIB * MIB}, capacity
            assert set(usage.values()) == {0}, usage
    influx: dict[str, set[str]] = {}
    for point in graph.points():
        if point.label and point.tags.get("hostname") == graph.hypervisor_host:
            influx.setdefault(point.tags["service"], set()).add(point.label)
    for service in HYPERVISOR_SERVICES:
        assert influx[service] == set(graphite_labels(graph, stored, service)), service


# -- (b) the commanded work, as the databases show it ----------------------------------

@dataclass(frozen=True)
class Sampled:
    """A stored point, with the timed run it came from and the bracket to the run
    before (None for a service's first run)."""

    stamp: int
    value: float
    run: Run
    previous: Optional[Run]
    bracket: Optional[Bracket]
    # Another run ended in the same second: the databases kept one point of the two.
    shared: bool = False


def sampled(run: GraphRun, service: str, label: str) -> list[Sampled]:
    runs = run.runs(service)
    found = []
    for stamp, value in sorted(run.graphite_points(service, label).items()):
        index = run_index(runs, stamp)
        shared = index > 0 and int(runs[index - 1].end) == stamp
        found.append(Sampled(stamp, value, runs[index], runs[index - 1] if index else None,
                             bracket_of(runs, index) if index else None, shared))
    return found


def around(points: list[Sampled], start: float, end: float) -> list[Sampled]:
    """The points whose interval may hold work done between `start` and `end`; the
    stretch must be closed by a point on each side that holds none of it."""
    assert any(point.run.end <= start for point in points), "no point before the work"
    assert any(point.previous and point.previous.start >= end for point in points), \
        "no point after the work"
    return [point for point in points if point.previous
            and point.previous.start < end and point.run.end > start]


def last_before(points: list[Sampled], moment: float) -> Sampled:
    return [point for point in points if point.run.end <= moment][-1]


def first_after(points: list[Sampled], moment: float) -> Sampled:
    return next(point for point in points if point.run.start >= moment)


def assert_work(label: str, points: list[Sampled], least: float, most: float,
                scale: float = 1.0) -> None:
    """The work the stored rates add up to, bounded by the runs' brackets, meets
    [least, most], and the bounds are tight enough to tell.

    Icinga 2.13 now and then runs a service twice within a second; the databases
    stamp whole seconds and keep one of the two points, so the rate of the other
    interval is lost and the sum cannot hold: the caller's counter stands alone then.
    """
    if any(point.shared for point in points):
        return
    low = sum(point.value * scale * point.bracket.shortest for point in points)
    high = sum(point.value * scale * point.bracket.longest for point in points)
    assert low <= most and least <= high, (
        f"{label}: the stored rates give {low:g}..{high:g}, the work was {least:g}..{most:g}")
    assert high <= low * MAX_SPREAD, f"{label}: bounds {low:g}..{high:g} too wide to tell"


def rounds(graph: GraphRun, stretch: str) -> list[tuple[float, float]]:
    return [marks[stretch] for marks in graph.rounds]


def queued_seconds(steal: list[Sampled], start: float, end: float) -> float:
    """The most time the busy vCPU can have waited in the host's run queue around a
    stretch, as its stored steal shows it."""
    return sum(point.value / 100 * point.bracket.longest
               for point in around(steal, start, end))


def test_one_busy_vcpu_shows_as_its_busy_seconds(graph):
    time_ns = sampled(graph, "vm-cpu", "cpu_time_ns")
    busy = sampled(graph, "vm-cpu", f"vcpu{BUSY_VCPU}_usage")
    steal = sampled(graph, "vm-cpu", f"vcpu{BUSY_VCPU}_steal")
    stolen = {point.stamp: point.value for point in steal}
    usage = {point.stamp: point.value for point in sampled(graph, "vm-cpu", "cpu_usage")}
    other = {point.stamp: point.value
             for point in sampled(graph, "vm-cpu", f"vcpu{1 - BUSY_VCPU}_usage")}
    for (start, end), (next_start, _) in zip(rounds(graph, "cpu"), rounds(graph, "disk")):
        before, after = last_before(time_ns, start), first_after(time_ns, end)
        assert after.run.end <= next_start, "the next stretch's work fell inside the window"
        window = after.run.end - before.run.start
        moved = (after.value - before.value) / 1e9
        # The loop spins only while its command is in flight, on the test's clock;
        # what of its time the vCPU waited behind the host's other work is not CPU time.
        least = BUSY_SECONDS - BUSY_TOLERANCE_SECONDS - queued_seconds(steal, start, end)
        most = end - start + BUSY_TOLERANCE_SECONDS + IDLE_SHARE * window
        assert least <= moved <= most, (
            f"cpu_time_ns moved {moved:.3f} s over {window:.2f} s around {end - start:.3f} s "
            f"busy, outside {least:.2f}..{most:.2f}")
        assert_work("vCPU seconds", around(busy, start, end), least, most, scale=0.01)
        # Points whose both samples certainly lie inside the busy stretch.
        inside = [point for point in busy if point.previous
                  and point.previous.start >= end - BUSY_SECONDS
                  and point.run.end <= start + BUSY_SECONDS]
        assert inside, "no run pair inside the busy stretch"
        for point in inside:
            share = 1 - BUSY_TOLERANCE_SECONDS / 5  # realvm's 0.6 s of 5 s
            # Running or queued, the spinning vCPU is never idle.
            assert 100 * share <= point.value + stolen[point.stamp] <= 100.5, point
            assert other[point.stamp] < 20.0
            # The domain's time holds the vCPUs' and QEMU's own threads'.
            vcpus = (point.value + other[point.stamp]) / 2
            assert vcpus - 0.5 <= usage[point.stamp] <= vcpus + 5.0


def test_disk_bytes_and_operations_are_the_commanded_io(graph):
    expected = {f"{WRITE_DISK}_write": WRITE_MIB * MIB, f"{READ_DISK}_read": READ_MIB * MIB,
                f"{WRITE_DISK}_read": 0, f"{READ_DISK}_write": 0}
    for start, end in rounds(graph, "disk"):
        for name, amount in expected.items():
            counter = sampled(graph, "vm-disk-io", f"{name}_bytes")
            moved = first_after(counter, end).value - last_before(counter, start).value
            assert moved == amount, name
            rates = around(sampled(graph, "vm-disk-io", f"{name}_bytes_per_second"), start, end)
            ops = around(sampled(graph, "vm-disk-io", f"{name}_ops_per_second"), start, end)
            if amount:
                assert_work(f"{name} bytes", rates, amount, amount)
                assert_work(f"{name} operations", ops, amount / REQUEST_BYTES,
                            amount / REQUEST_BYTES)
            else:
                assert {point.value for point in rates + ops} == {0}, name


def test_nic_bits_and_packets_are_the_pings(graph):
    tap = graph.vm.tap
    for start, end in rounds(graph, "nic"):
        for direction in ("rx", "tx"):
            counter = sampled(graph, "vm-nic", f"{tap}_{direction}_bytes")
            moved = first_after(counter, end).value - last_before(counter, start).value
            assert moved == PINGS * PING_FRAME, direction
            bits = around(sampled(graph, "vm-nic", f"{tap}_{direction}_bits_per_second"),
                          start, end)
            assert_work(f"{direction} bits", bits, PINGS * PING_FRAME * 8, PINGS * PING_FRAME * 8)
            packets = around(sampled(graph, "vm-nic", f"{tap}_{direction}_packets_per_second"),
                             start, end)
            assert_work(f"{direction} packets", packets, PINGS, PINGS)


def test_holding_64_mib_drops_usable_and_freeing_it_recovers(graph):
    used = sampled(graph, "vm-mem", "mem_used")
    usable = {point.stamp: point.value for point in sampled(graph, "vm-mem", "mem_usable")}
    seen = STATS_PERIOD + POLL_MARGIN
    for (alloc_start, alloc_end), (free_start, free_end) in zip(rounds(graph, "alloc"),
                                                                rounds(graph, "free")):
        before = last_before(used, alloc_start)
        held = first_after(used, alloc_end + seen)
        assert held.run.end <= free_start, "no run while the memory was held"
        after = first_after(used, free_end + seen)
        held_bytes = HELD_MIB * MIB
        assert held.value - before.value == pytest.approx(held_bytes, abs=MEM_TOLERANCE)
        assert held.value - after.value == pytest.approx(held_bytes, abs=MEM_TOLERANCE)
        assert usable[before.stamp] - usable[held.stamp] == pytest.approx(
            held_bytes, abs=MEM_TOLERANCE)
        assert usable[after.stamp] - usable[held.stamp] == pytest.approx(
            held_bytes, abs=MEM_TOLERANCE)


# -- the pictures -------------------------------------------------------------------------

def test_every_check_renders_a_titled_picture(graph, tmp_path):
    directory = Path(OUT) if OUT else tmp_path
    written = render_all(graph, directory)
    assert [path.stem for path in written] == [*SERVICES.values()]
    for path in written:
        data = path.read_bytes()
        assert png_size(data) == (WIDTH, HEIGHT), path
        assert len(data) < MAX_PNG_BYTES, (path, len(data))
