"""check_vm_nic against libvirt's test driver, through the real executable.

The test driver's interface counters follow the wall clock, the same on
every interface: 100000 bytes/s received and 50000 sent (800 and 400
kbit/s), 10000 and about 9091 packets/s, and errors and drops of about one
per second or less.  It renames `vnet*` targets, so interface names come
from the domain XML: web01 in tests/data/node.xml has testnet0 (MAC
52:54:00:00:00:01, network default) and backend0 (52:54:00:00:00:02, bridge
br0); test:///default's domain `test` has testnet0.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import libvirt
import pytest
from harness.paths import DEFAULT_URI, NODE_URI, REPO

GOLDEN = REPO / "tests" / "data" / "golden"
RX_BITS, TX_BITS = 800_000, 400_000
# Over the tier's 0.3 s in-run pause the rates come out about 2% low: a
# sample's time is the middle of its reading, and the first sample reads the
# counters late (after the XML).  10% leaves room for a loaded machine.
RATE_TOLERANCE = 0.1
NUMBER = r"\d+\.\d"


def interfaces(uri: str, domain: str) -> list[tuple[str, str, str]]:
    """(target, MAC, source) of each interface, as libvirt's XML names them."""
    connection = libvirt.openReadOnly(uri)
    try:
        root = ET.fromstring(connection.lookupByName(domain).XMLDesc())
    finally:
        connection.close()
    found = []
    for node in root.iterfind("devices/interface"):
        source = node.find("source")
        found.append((node.find("target").get("dev"), node.find("mac").get("address"),
                      source.get("network") or source.get("bridge")))
    return found


@pytest.fixture(scope="module")
def web01() -> list[tuple[str, str, str]]:
    found = interfaces(NODE_URI, "web01")
    assert [name for name, _mac, _source in found] == ["testnet0", "backend0"]
    return found


def test_one_interface_ok_line(nic):
    run = nic("--connect", DEFAULT_URI, "-d", "test")
    assert run.returncode == 0, run.stdout
    assert run.stderr == ""
    assert len(run.lines) == 1
    assert re.fullmatch(rf"VM_NIC OK - test: 1 interface: rx {NUMBER} kbit/s, "
                        rf"tx {NUMBER} kbit/s \(busiest testnet0\)", run.status), run.status


def test_two_interfaces_ok_line(nic, web01):
    run = nic("--connect", NODE_URI, "-d", "web01")
    assert run.returncode == 0, run.stdout
    assert re.fullmatch(rf"VM_NIC OK - web01: 2 interfaces: rx \d\.\d Mbit/s, "
                        rf"tx {NUMBER} kbit/s \(busiest (testnet0|backend0)\)", run.status)


def test_perfdata_labels_units_and_bounds(nic, web01):
    perf = nic("--connect", NODE_URI, "-d", "web01").perfdata
    per_nic = {"rx_bits_per_second": "", "tx_bits_per_second": "",
               "rx_packets_per_second": "", "tx_packets_per_second": "",
               "rx_errors_per_second": "", "tx_errors_per_second": "",
               "rx_drops_per_second": "", "tx_drops_per_second": "",
               "rx_errors_pct": "%", "tx_errors_pct": "%", "rx_drops_pct": "%",
               "tx_drops_pct": "%", "rx_bytes": "c", "tx_bytes": "c"}
    expected = {f"{name}_{metric}": uom for name, _mac, _source in web01
                for metric, uom in per_nic.items()}
    expected |= {"total_rx_bits_per_second": "", "total_tx_bits_per_second": ""}
    expected |= {"backend0_rx_usage": "%", "backend0_tx_usage": "%"}  # its bandwidth limit
    assert {label: item.uom for label, item in perf.items()} == expected
    limits = {"backend0_rx_bits_per_second": "8000000", "backend0_tx_bits_per_second": "4000000"}
    for label, item in perf.items():
        assert item.minimum == "0", label
        assert item.maximum == ("100" if item.uom == "%" else limits.get(label, "")), label


def test_rates_follow_the_test_drivers_clock(nic, web01):
    perf = nic("--connect", NODE_URI, "-d", "web01").perfdata

    def near(label: str, expected: float) -> bool:
        return perf[label].value == pytest.approx(expected, rel=RATE_TOLERANCE)

    for name, _mac, _source in web01:
        assert near(f"{name}_rx_bits_per_second", RX_BITS)
        assert near(f"{name}_tx_bits_per_second", TX_BITS)
        assert near(f"{name}_rx_packets_per_second", 10_000)
        assert perf[f"{name}_rx_drops_pct"].value < 1
    assert near("total_rx_bits_per_second", 2 * RX_BITS)
    assert near("total_tx_bits_per_second", 2 * TX_BITS)


def test_a_bare_range_judges_rx_and_tx_bits_of_each_interface(nic, web01):
    run = nic("--connect", NODE_URI, "-d", "web01", "-w", "500k", "-c", "1M")
    assert run.returncode == 1
    # Both interfaces' rx breach; the line names the first and counts the other.
    assert re.fullmatch(rf"VM_NIC WARNING - web01: testnet0 rx {NUMBER} kbit/s "
                        r"\(> 500000\) \(\+1 more\)", run.status), run.status
    perf = run.perfdata
    for name, _mac, _source in web01:
        for direction in ("rx", "tx"):
            item = perf[f"{name}_{direction}_bits_per_second"]
            assert (item.warn, item.crit) == ("500000", "1000000")
        assert perf[f"{name}_rx_packets_per_second"].warn == ""
    assert perf["total_rx_bits_per_second"].warn == ""


def test_tx_alone_breaches_a_lower_range(nic):
    run = nic("--connect", DEFAULT_URI, "-d", "test", "-c", "300k")
    assert run.returncode == 2
    assert re.fullmatch(rf"VM_NIC CRITICAL - test: testnet0 rx {NUMBER} kbit/s \(> 300000\) "
                        r"\(\+1 more\)", run.status), run.status
    run = nic("--connect", DEFAULT_URI, "-d", "test", "-c", "nic_rx_bits_per_second=10M",
              "-c", "300k")
    assert re.fullmatch(rf"VM_NIC CRITICAL - test: testnet0 tx {NUMBER} kbit/s \(> 300000\)",
                        run.status), run.status


def test_device_label_beats_generic_label(nic, web01):
    run = nic("--connect", NODE_URI, "-d", "web01", "-w", "nic_rx_bits_per_second=1k",
              "-w", "backend0_rx_bits_per_second=10M")
    assert run.returncode == 1
    assert re.fullmatch(rf"VM_NIC WARNING - web01: testnet0 rx {NUMBER} kbit/s \(> 1000\)",
                        run.status), run.status
    assert run.perfdata["testnet0_rx_bits_per_second"].warn == "1000"
    assert run.perfdata["backend0_rx_bits_per_second"].warn == "10000000"


def test_selection_by_mac_reports_only_that_interface(nic, web01):
    _name, mac, _source = web01[1]
    run = nic("--connect", NODE_URI, "-d", "web01", "--interface", mac.upper())
    assert run.returncode == 0, run.stdout
    assert re.fullmatch(rf"VM_NIC OK - web01: 1 interface: rx {NUMBER} kbit/s, "
                        rf"tx {NUMBER} kbit/s \(busiest backend0\)", run.status), run.status
    assert {label.split("_")[0] for label in run.perfdata} == {"backend0", "total"}


def test_exclude_by_name(nic, web01):
    run = nic("--connect", NODE_URI, "-d", "web01", "--exclude-interface", "backend0")
    assert "(busiest testnet0)" in run.status
    assert not any(label.startswith("backend0_") for label in run.perfdata)


def test_speed_adds_usage_and_a_maximum(nic):
    run = nic("--connect", DEFAULT_URI, "-d", "test", "--speed", "1M", "-w", "nic_rx_usage=50")
    assert run.returncode == 1
    assert re.fullmatch(r"VM_NIC WARNING - test: testnet0 rx \d\d\.\d% of 1\.0 Mbit/s \(> 50\)",
                        run.status), run.status
    perf = run.perfdata
    assert perf["testnet0_rx_usage"].value == pytest.approx(80, abs=4)
    assert perf["testnet0_tx_usage"].value == pytest.approx(40, abs=2)
    assert (perf["testnet0_rx_usage"].uom, perf["testnet0_rx_usage"].maximum) == ("%", "100")
    assert perf["testnet0_rx_bits_per_second"].maximum == "1000000"


def test_verbose_lists_every_interface_with_mac_and_source(nic, web01):
    run = nic("--connect", NODE_URI, "-d", "web01", "-v", "--interface", "testnet0")
    for name, mac, source in web01:
        limit = ", bandwidth limit rx 8.0 Mbit/s, tx 4.0 Mbit/s" if name == "backend0" else ""
        left_out = "" if name == "testnet0" else " (not reported)"
        assert f"interface {name}: mac {mac}, source {source}{limit}{left_out}" in run.lines
    assert any(line.startswith("testnet0_rx_drops_pct: testnet0 rx drops ")
               for line in run.lines)


def test_second_run_measures_against_the_saved_state(nic, state_dir):
    first = nic("--connect", DEFAULT_URI, "-d", "test", "-vv")
    assert "within this run (no previous sample)" in first.stdout
    assert len(list(state_dir.glob("nic-*.json"))) == 1
    second = nic("--connect", DEFAULT_URI, "-d", "test", "-vv")
    assert second.returncode == 0
    assert "since the previous run" in second.stdout
    rx = second.perfdata["testnet0_rx_bits_per_second"].value
    assert rx == pytest.approx(RX_BITS, rel=RATE_TOLERANCE)


@pytest.mark.parametrize(("args", "message"), [
    (["--interface", "eth9"], "--interface eth9: this domain has no such interface (it has: "
                              "52:54:00:00:00:01, 52:54:00:00:00:02, backend0, testnet0)"),
    (["--exclude-interface", "eth9"], "--exclude-interface eth9: this domain has no such "
                                      "interface (it has: 52:54:00:00:00:01, "
                                      "52:54:00:00:00:02, backend0, testnet0)"),
    (["-w", "eth9_rx_bits_per_second=1"], "threshold label 'eth9_rx_bits_per_second': this "
                                          "domain has no nic 'eth9' (it has: backend0, "
                                          "testnet0)"),
    (["--speed", "fast"], "argument --speed: 'fast' is not a number (e.g. 80, 2.5, 100M, 1Gi) "
                          "(see --help)"),
    (["--speed", "0"], "argument --speed: '0' is not a positive speed (see --help)"),
])
def test_usage_errors_are_one_unknown_line(nic, args, message):
    run = nic("--connect", NODE_URI, "-d", "web01", *args)
    assert (run.returncode, run.stdout, run.stderr) == (3, f"VM_NIC UNKNOWN - {message}\n", "")


def test_domain_without_interfaces_is_unknown_and_says_so(nic):
    run = nic("--connect", NODE_URI, "-d", "db 01 'quoted'")
    assert (run.returncode, run.stdout) == (
        3, "VM_NIC UNKNOWN - db 01 'quoted': the domain has no network interfaces\n")


def test_stopped_domain_follows_the_state_policy(nic):
    run = nic("--connect", NODE_URI, "-d", "stopped01")
    assert (run.returncode, run.stdout) == (2, "VM_NIC CRITICAL - stopped01: shut off\n")


def test_help_matches_the_golden_file(nic):
    run = nic("--help")
    assert run.returncode == 0
    assert run.stdout == (GOLDEN / "check_vm_nic.help").read_text()


def test_bandwidth_limit_from_the_xml_gives_usage_per_direction(nic):
    # backend0 on web01 has <inbound average='1000'/> (kB/s = 8000 bit/s, what the guest
    # receives) and <outbound average='500'/>: 8 and 4 Mbit/s.
    run = nic("--connect", NODE_URI, "-d", "web01", "-v")
    perf = run.perfdata
    assert perf["backend0_rx_bits_per_second"].maximum == "8000000"
    assert perf["backend0_tx_bits_per_second"].maximum == "4000000"
    assert perf["backend0_rx_usage"].value == pytest.approx(
        perf["backend0_rx_bits_per_second"].value / 8000000 * 100, rel=1e-3)
    assert "testnet0_rx_usage" not in perf  # no limit, no --speed
    assert any(line.startswith("interface backend0: mac 52:54:00:00:00:02, source br0, "
                               "bandwidth limit rx 8.0 Mbit/s, tx 4.0 Mbit/s")
               for line in run.lines)


# -- thresholds that judge nothing ------------------------------------------------------------

def test_a_usage_threshold_without_a_link_speed_is_unknown_saying_how_to_give_one(nic):
    run = nic("--connect", DEFAULT_URI, "-d", "test", "-c", "nic_tx_usage=1")
    assert run.returncode == 3, run.stdout
    assert run.status == ("VM_NIC UNKNOWN - test: threshold -c nic_tx_usage judges nothing: "
                          "interface testnet0 has no link speed to take tx usage of: give "
                          "--speed (e.g. --speed 1G) or a <bandwidth> limit in the domain XML")
    judged = nic("--connect", DEFAULT_URI, "-d", "test", "-c", "nic_tx_usage=1", "--speed", "1G")
    assert judged.returncode == 0, judged.stdout


def test_a_bandwidth_limit_on_one_interface_judges_the_generic_label(nic):
    run = nic("--connect", NODE_URI, "-d", "web01", "-c", "nic_tx_usage=99")
    assert (run.returncode, len(run.lines)) == (0, 1), run.stdout
    assert run.perfdata["backend0_tx_usage"].crit == "99"
    alone = nic("--connect", NODE_URI, "-d", "web01", "-c", "testnet0_tx_usage=99")
    assert alone.returncode == 3
    assert "interface testnet0 has no link speed" in alone.status


def test_a_threshold_on_an_interface_left_out_names_the_option(nic):
    run = nic("--connect", NODE_URI, "-d", "web01", "--exclude-interface", "backend0",
              "-w", "backend0_rx_bits_per_second=1G")
    assert run.returncode == 3, run.stdout
    assert run.status.endswith("judges nothing: --exclude-interface leaves interface backend0 "
                               "out")
