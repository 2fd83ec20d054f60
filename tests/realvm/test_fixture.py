"""Smoke tests of the realvm fixtures, with raw libvirt-python calls only."""


import libvirt
import pytest
from harness.polling import poll

pytestmark = pytest.mark.realvm

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def conn(hypervisor):
    """A read-only connection, as the checks open it."""
    connection = libvirt.openReadOnly(hypervisor.uri)
    yield connection
    connection.close()


def all_stats(conn, name):
    """Return the getAllDomainStats-style dict of domain `name`."""
    domain = conn.lookupByName(name)
    flags = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT
    [(_, stats)] = conn.domainListGetStats([domain], 0, flags)
    return stats


def test_guest_reports_every_stats_group(conn, guest):
    stats = all_stats(conn, guest.name)
    assert stats["cpu.time"] > 0
    assert "vcpu.0.time" in stats and "vcpu.1.time" in stats
    blocks = [stats[f"block.{i}.name"] for i in range(stats["block.count"])]
    assert blocks == guest.disks == ["vda", "vdb"]
    assert stats["net.0.name"] == guest.tap
    assert stats["balloon.usable"] > 0 and stats["balloon.last-update"] > 0


def test_guest_attributes_match_libvirt(conn, guest):
    domain = conn.lookupByName(guest.name)
    assert domain.UUIDString() == guest.uuid
    assert domain.maxVcpus() == guest.vcpus == 2
    assert domain.maxMemory() == guest.memory_kib


def test_write_moves_vda_wr_bytes_exactly(conn, guest):
    domain = conn.lookupByName(guest.name)
    before = domain.blockStats("vda"), domain.blockStats("vdb")
    guest.command("write vda 32")
    after = domain.blockStats("vda"), domain.blockStats("vdb")
    assert after[0][3] - before[0][3] == 32 * MIB
    assert after[1] == before[1]


def test_read_moves_vdb_rd_bytes_exactly(conn, guest):
    domain = conn.lookupByName(guest.name)
    before = domain.blockStats("vdb")
    guest.command("read vdb 16")
    assert domain.blockStats("vdb")[1] - before[1] == 16 * MIB


def test_ping_moves_tap_tx_packets_exactly(conn, guest):
    domain = conn.lookupByName(guest.name)
    before = domain.interfaceStats(guest.tap)
    guest.command("ping 10 100")
    after = domain.interfaceStats(guest.tap)
    # (rx_bytes, rx_packets, ..., tx_bytes, tx_packets, ...): the guest's view
    assert after[5] - before[5] == 10
    assert after[4] - before[4] == 10 * (100 + 42)


def test_alloc_moves_balloon_unused(conn, guest):
    domain = conn.lookupByName(guest.name)
    before = domain.memoryStats()["unused"]
    guest.command("alloc 64")
    try:
        assert poll(lambda: before - domain.memoryStats()["unused"] > 60 * 1024, 10, 0.5)
    finally:
        guest.command("free")


def test_shutoff_domain_is_shut_off(conn, shutoff_domain):
    state, _reason = conn.lookupByName(shutoff_domain).state()
    assert state == libvirt.VIR_DOMAIN_SHUTOFF == 5


def test_balloonless_guest_has_no_balloon_stats(conn, balloonless_guest):
    domain = conn.lookupByName(balloonless_guest)
    assert domain.isActive()
    assert "usable" not in domain.memoryStats()


def test_restart_gives_a_fresh_ready_guest(conn, guest):
    id_before = conn.lookupByName(guest.name).ID()
    guest.restart()
    # libvirt never reuses a domain id while it runs: a new id is a new QEMU.
    # (Its CPU time proves nothing: a guest restarted moments before may
    # have used less than a fresh one spends booting.)
    assert conn.lookupByName(guest.name).ID() not in (-1, id_before)
    assert guest.command("idle") == "done"
    assert all_stats(conn, guest.name)["net.0.name"] == guest.tap

