"""check_vm_nic against a real QEMU guest whose traffic the test makes.

Ground truth is the traffic itself, counted again on the host side of the
guest's tap.  `ping N SIZE` in the guest sends N echo requests of SIZE+42
bytes per frame to the tap's host end, and N replies of the same size come
back; with static neighbours and IPv6 off there is nothing else on the link.
A ping alone is symmetric and could not tell rx from tx, so the host also
sends a few raw frames of an experimental EtherType to the guest, which the
guest takes in and never answers: the guest receives more than it sends.

The check names directions from the guest's point of view and the tap counts
from the host's, so guest tx must equal host rx and guest rx host tx.  Each
rate must lie between that traffic over the longest and over the shortest
time the two runs' samples can lie apart, by the test's own clock (see
bracket.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from harness.checkrun import CheckRun, run_check
from harness.vm.bracket import Bracket, sleep_until, timed

pytestmark = pytest.mark.realvm

PINGS = 20
PING_SIZE = 1000
PING_FRAME = PING_SIZE + 42  # Ethernet 14 + IPv4 20 + ICMP 8 + payload
HOST_FRAMES = 10
HOST_FRAME_BYTES = 200
# From the end of the first run to the start of the second: long against the
# runs (a fraction of a second each), so that the bracket is tight.
SPACING_SECONDS = 8.0

SEND_FRAMES = """\
import socket, sys
tap, source, destination, count, length = sys.argv[1:6]
frame = (bytes.fromhex(destination.replace(":", "")) + bytes.fromhex(source.replace(":", ""))
         + b"\\x88\\xb5")  # IEEE 802 local experimental EtherType: nothing answers it
frame += bytes(int(length) - len(frame))
with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
    sock.bind((tap, 0))
    for _ in range(int(count)):
        sock.send(frame)
"""


def run_nic(hypervisor, guest, state_dir, *args: str) -> CheckRun:
    """Run check_vm_nic -vv against the real guest."""
    run = run_check("check_vm_nic", "--connect", hypervisor.uri, "-vv", "-d", guest.name,
                    *args, state_dir=state_dir)
    assert run.returncode == 0, run.stdout
    return run


def tap_counters(hypervisor, tap: str) -> dict[str, int]:
    """The tap's own counters, host side, read inside the tier's namespace."""
    link = json.loads(hypervisor.ip("-s", "-j", "link", "show", "dev", tap).stdout)[0]
    stats = link["stats64"]
    return {f"{direction}_{field}": stats[direction][field]
            for direction in ("rx", "tx") for field in ("bytes", "packets")}


def send_frames_to_guest(hypervisor, guest, count: int, length: int) -> None:
    """Write `count` raw frames of `length` bytes into the tap, addressed to the guest."""
    nic = guest.spec.nic
    subprocess.run(["nsenter", f"--net=/var/run/netns/{hypervisor.netns}", sys.executable,
                    "-c", SEND_FRAMES, guest.tap, nic.host_mac, nic.guest_mac, str(count),
                    str(length)], check=True, timeout=30)


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {key: after[key] - before[key] for key in after}


@pytest.fixture(scope="module")
def timed_traffic(hypervisor, guest, tmp_path_factory):
    """Two timed check runs around known traffic: (first, second, host-side deltas).

    Made once for the module: every test below reads the same traffic.  The
    first run stores its baseline after a pause of 0.1 s, to keep it short.
    """
    state_dir = tmp_path_factory.mktemp("nic") / "state"
    first = timed(lambda: run_nic(hypervisor, guest, state_dir, "--sample-interval", "0.1"))
    host_before = tap_counters(hypervisor, guest.tap)
    send_frames_to_guest(hypervisor, guest, HOST_FRAMES, HOST_FRAME_BYTES)
    guest.command(f"ping {PINGS} {PING_SIZE}", timeout=60)
    host = delta(host_before, tap_counters(hypervisor, guest.tap))
    sleep_until(first.ended + SPACING_SECONDS)
    second = timed(lambda: run_nic(hypervisor, guest, state_dir))
    assert "since the previous run" in second.result.stdout
    return first, second, host


@pytest.fixture(scope="module")
def traffic(timed_traffic, guest):
    """(second run, host-side deltas, the check's cumulative deltas)."""
    first, second, host = timed_traffic
    counted = {key: second.result.perfdata[f"{guest.tap}_{key}"].value
               - first.result.perfdata[f"{guest.tap}_{key}"].value
               for key in ("rx_bytes", "tx_bytes")}
    return second.result, host, counted


def rate_bracket(timed_traffic) -> tuple[Bracket, dict]:
    """The bracket of the two runs, and the second run's perfdata."""
    first, second, _host = timed_traffic
    return Bracket.between(first, second), second.result.perfdata


def test_the_host_side_sees_exactly_the_traffic_made(traffic):
    _run, host, _counted = traffic
    assert host == {"rx_packets": PINGS, "rx_bytes": PINGS * PING_FRAME,
                    "tx_packets": PINGS + HOST_FRAMES,
                    "tx_bytes": PINGS * PING_FRAME + HOST_FRAMES * HOST_FRAME_BYTES}


def test_guest_tx_is_what_the_guest_sent(timed_traffic, guest):
    bracket, perf = rate_bracket(timed_traffic)
    bracket.assert_rate("tx packets per second", perf[f"{guest.tap}_tx_packets_per_second"].value,
                        PINGS)
    bracket.assert_rate("tx bits per second", perf[f"{guest.tap}_tx_bits_per_second"].value,
                        PINGS * PING_FRAME * 8)


def test_guest_rx_is_what_the_guest_received(timed_traffic, guest):
    bracket, perf = rate_bracket(timed_traffic)
    bracket.assert_rate("rx packets per second", perf[f"{guest.tap}_rx_packets_per_second"].value,
                        PINGS + HOST_FRAMES)
    bracket.assert_rate("rx bits per second", perf[f"{guest.tap}_rx_bits_per_second"].value,
                        (PINGS * PING_FRAME + HOST_FRAMES * HOST_FRAME_BYTES) * 8)


def test_the_host_agrees_in_the_opposite_direction(traffic):
    _run, host, counted = traffic
    assert counted["tx_bytes"] == host["rx_bytes"]
    assert counted["rx_bytes"] == host["tx_bytes"]


def test_a_clean_link_has_no_losses_and_the_totals_are_the_one_interface(traffic, guest):
    run, _host, _counted = traffic
    perf = run.perfdata
    for label in ("rx_errors_pct", "rx_drops_pct", "tx_errors_pct", "tx_drops_pct"):
        assert perf[f"{guest.tap}_{label}"].value == 0, label
    for direction in ("rx", "tx"):
        assert (perf[f"total_{direction}_bits_per_second"].value
                == perf[f"{guest.tap}_{direction}_bits_per_second"].value)
    assert re.match(rf"^VM_NIC OK - {re.escape(guest.name)}: 1 interface: rx \d+\.\d k?bit/s, "
                    rf"tx \d+\.\d k?bit/s \(busiest {guest.tap}\)$", run.status), run.status
    assert f"interface {guest.tap}: mac {guest.spec.nic.guest_mac}, source none" in run.lines
