"""The graphing tier's databases store a known value and give it back exactly.

Each database runs as a daemon of the test's own on 127.0.0.1: carbon-cache
takes points in its plaintext protocol and writes whisper files, graphite-web
serves them through its render and find APIs, influxd takes line protocol
and answers InfluxQL. Every socket they listen on is on loopback, and after
stop() none of their processes is left.
"""

from __future__ import annotations

import os
import time

from harness.graphs.databases import CarbonCache, GraphiteWeb, InfluxDB
from harness.graphs.packages import PACKAGES, daemon_pids, ensure_installed
from harness.graphs.pictures import png_size
from harness.graphs.process import Daemon, alive, parent_pid, port_answers
from harness.vm.host import missing_packages

HOST = "check-vm-test"
METRIC = f"icinga2.{HOST}.services.vm-cpu.check_vm_cpu.perfdata.cpu.value"
OTHER_METRIC = f"icinga2.{HOST}.services.vm-cpu.check_vm_cpu.perfdata.cpu.warn"
# Zero (a value that reads as false), and two not exact in decimal: a value that went
# through a text form losing digits would differ.
VALUES = (0.0, 0.1 + 0.2, 12.345678901234567)


def loopback_only(daemon: Daemon) -> None:
    """The daemon listens on its own ports, on 127.0.0.1, and nowhere else."""
    expected = {("tcp", "127.0.0.1", port) for port in daemon.ports()}
    assert daemon.sockets() == expected


def stopped(daemon: Daemon) -> None:
    """stop() leaves no process of its session and no port that answers."""
    daemon.stop()
    assert daemon.pids() == set()
    assert not any(map(port_answers, daemon.ports()))


def points_of(series: dict) -> dict[int, float]:
    """timestamp -> value of a render API series, without the empty slots."""
    return {timestamp: value for value, timestamp in series["datapoints"] if value is not None}


def test_installed_and_no_debian_daemon_started(graph_packages):
    started = time.monotonic()
    ensure_installed()
    assert time.monotonic() - started < 5, "a second installation must do nothing"
    assert missing_packages(PACKAGES) == []
    # Debian's own daemons would be detached; the tier's are children of this process.
    new = {pid for pid in daemon_pids() - graph_packages
           if alive(pid) and parent_pid(pid) != os.getpid()}
    assert new == set(), "the packages' postinst started daemons"


def test_carbon_stores_and_graphite_web_serves_a_value(graph_packages, tmp_path):
    now = int(time.time())
    stored = {now - 4: VALUES[0], now - 3: VALUES[1], now - 2: VALUES[2]}
    points = [(METRIC, value, timestamp) for timestamp, value in stored.items()]
    carbon = CarbonCache(tmp_path / "carbon")
    web = GraphiteWeb(tmp_path / "graphite-web", carbon)
    with carbon, web:
        carbon.send([*points, (OTHER_METRIC, 80.0, now - 2)])
        assert carbon.wait_for_whisper(METRIC, now - 4) == 0.0
        assert carbon.wait_for_whisper(METRIC, now - 2) == VALUES[2]
        assert carbon.whisper_points(METRIC, now - 60) == stored

        [series] = web.render_json(METRIC, from_="-5min")
        assert series["target"] == METRIC
        assert points_of(series) == stored
        assert web.find(f"icinga2.{HOST}.services.vm-cpu.check_vm_cpu.perfdata.cpu.*") == \
            sorted([METRIC, OTHER_METRIC])
        assert web.find("icinga2.*") == [f"icinga2.{HOST}"]

        png = web.render_png([METRIC, OTHER_METRIC], tmp_path / "cpu.png", width=640,
                             height=240, title="vm-cpu")
        assert png_size(png.read_bytes()) == (640, 240)

        loopback_only(carbon)
        loopback_only(web)
    stopped(web)
    stopped(carbon)


def test_influxdb_stores_and_answers_a_value(graph_packages, tmp_path):
    now = int(time.time())
    with InfluxDB(tmp_path / "influxdb") as influx:
        influx.create_database()
        influx.write("".join(
            f"check_vm_cpu,hostname={HOST},service=vm-cpu,metric=cpu "
            f"value={value!r},warn=80 {now - 4 + index}\n" for index, value in enumerate(VALUES)))
        [series] = influx.series(
            f"SELECT value, warn FROM check_vm_cpu WHERE hostname = '{HOST}' "
            "AND metric = 'cpu'")
        assert series["columns"] == ["time", "value", "warn"]
        assert series["values"] == [[now - 4 + index, value, 80]
                                    for index, value in enumerate(VALUES)]
        loopback_only(influx)
    stopped(influx)
