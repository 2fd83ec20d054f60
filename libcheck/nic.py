"""check_vm_nic: per-interface traffic, packets, errors and drops of a VM.

Every interface with a host-side device is reported by its target name
(vnet0, tap3...); its MAC address and source (bridge or network) show in -v
and select it as well as its name.  An interface without a host-side device
(user-mode networking) has no counters: -v lists it, nothing else does.

Directions are the guest's, as libvirt counts them: rx is what the VM
received, tx what it sent (the host's tap counts the other way round).

The headline, which a bare -w/-c range judges, is each interface's rx and
tx bits per second: links are sized, policed and alarmed per direction and
per link, so one saturated direction must alert even when the other
direction, or the VM's other interfaces, are idle (totals would hide it).
"""

from __future__ import annotations

import argparse
import re
from typing import NamedTuple, Optional

from nagiosplugin.state import Unknown

from libcheck.devices import Selection, add_selection_options, device_label_reason
from libcheck.errors import UsageError
from libcheck.evaluation import Condition, Phrase, Reading
from libcheck.measure import Measurement
from libcheck.rates import Counters
from libcheck.samples import DomainSample, Group, NicSample
from libcheck.thresholds import LabelSpec, Target, parse_number
from libcheck.units import human_bits, human_bytes

BITS_PER_BYTE = 8
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$", re.IGNORECASE)
_FIELDS = ("bytes", "packets", "errors", "drops")


def _per_nic(metric: str, uom: str, meaning: str, headline: bool = False,
             spare: int = 0) -> LabelSpec:
    return LabelSpec(metric, uom, meaning, kind="nic", headline=headline, spare=spare)


# What the rates or a percentage already say: left out first when the
# perfdata of many interfaces must fit a plugin's output.
CUMULATIVE, COUNTS = 1, 2


class Direction(NamedTuple):
    """One direction's labels; `key` names both its labels and libvirt's counters."""

    key: str
    bits: LabelSpec
    usage: LabelSpec
    packets: LabelSpec
    errors: LabelSpec
    drops: LabelSpec
    errors_pct: LabelSpec
    drops_pct: LabelSpec
    cumulative_bytes: LabelSpec
    total_bits: LabelSpec

    def counter(self, field: str) -> str:
        """The counter's name in NicSample and in the stored state: rx_bytes..."""
        return f"{self.key}_{field}"

    def needs(self, spec: LabelSpec) -> tuple[str, ...]:
        """The counters (rx_bytes...) a label of this direction is computed from."""
        fields = {self.bits: ("bytes",), self.usage: ("bytes",), self.packets: ("packets",),
                  self.errors: ("errors",), self.drops: ("drops",),
                  self.errors_pct: ("errors", "packets"), self.drops_pct: ("drops", "packets"),
                  self.cumulative_bytes: ("bytes",), self.total_bits: ("bytes",)}
        return tuple(self.counter(field) for field in fields.get(spec, ()))


def _direction(key: str, verb: str, noun: str) -> Direction:
    return Direction(
        key,
        bits=_per_nic(f"{key}_bits_per_second", "", f"bits the guest {verb} per second "
                      "(a headline)", headline=True),
        usage=_per_nic(f"{key}_usage", "%", f"{key} bits per second in percent of --speed "
                       "or of the interface's bandwidth limit"),
        packets=_per_nic(f"{key}_packets_per_second", "", f"packets the guest {verb} per "
                         "second"),
        errors=_per_nic(f"{key}_errors_per_second", "", f"{noun} errors per second",
                        spare=COUNTS),
        drops=_per_nic(f"{key}_drops_per_second", "", f"{noun} drops per second",
                       spare=COUNTS),
        errors_pct=_per_nic(f"{key}_errors_pct", "%", f"{noun} errors, percent of packets "
                            "+ errors (0 when neither)"),
        drops_pct=_per_nic(f"{key}_drops_pct", "%", f"{noun} drops, percent of packets + "
                           "drops (0 when neither)"),
        cumulative_bytes=_per_nic(f"{key}_bytes", "c", f"bytes the guest {verb} (cumulative)",
                                  spare=CUMULATIVE),
        total_bits=LabelSpec(f"total_{key}_bits_per_second", "", f"all interfaces: bits the "
                             f"guest {verb} per second"))


RX = _direction("rx", "received", "receive")
TX = _direction("tx", "sent", "transmit")
DIRECTIONS = (RX, TX)

SPECS = tuple(getattr(direction, field)
              for field in ("bits", "usage", "packets", "errors", "drops", "errors_pct",
                            "drops_pct", "cumulative_bytes", "total_bits")
              for direction in DIRECTIONS)

_COUNTERS = tuple(direction.counter(field) for direction in DIRECTIONS for field in _FIELDS)


def loss_pct(lost: float, delivered: float) -> float:
    """Lost packets in percent of all offered (delivered + lost); 0 when none were.

    Linux counts a dropped or errored packet apart from the delivered ones, so
    the offered packets are the sum, and an interface that lost everything
    says 100%, not 0%.
    """
    offered = lost + delivered
    return lost / offered * 100 if offered > 0 else 0.0


def speed(text: str) -> float:
    """--speed: a link speed in bits per second, with unit suffixes (1G, 100M)."""
    try:
        value = parse_number(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive speed")
    return value


def _answers_to(nic: NicSample) -> set[str]:
    return {name for name in (nic.name, (nic.mac or "").lower()) if name}


def _lowercase_macs(values) -> list[str]:
    # MACs match whatever case the user types them in.
    return [value.lower() if _MAC.match(value) else value for value in values]


def _has_statistics(nic: NicSample) -> bool:
    return nic.name is not None and any(getattr(nic, name) is not None for name in _COUNTERS)


class NicCheck:
    """The NIC check: per-interface rates both ways, losses, utilisation and totals."""

    name = "nic"
    title = "VM_NIC"
    description = ("Network traffic of a KVM/QEMU domain per interface (bits, packets, "
                   "errors and drops both ways, utilisation), measured from the hypervisor "
                   "through libvirt. rx is what the guest received, tx what it sent.")
    groups = frozenset({Group.NIC})
    specs = SPECS

    @staticmethod
    def add_options(parser: argparse.ArgumentParser) -> None:
        """--interface, --exclude-interface and --speed."""
        add_selection_options(parser, "interface", "NAME|MAC",
                              "report only this interface (target name such as vnet0, "
                              "or MAC address; repeatable)")
        parser.add_argument("--speed", type=speed, default=None, metavar="BITS",
                            help="link speed in bits per second (e.g. 100M, 1G, 10G), "
                                 "each direction: adds <nic>_rx_usage and <nic>_tx_usage "
                                 "in percent of it (default: the interface's <bandwidth> "
                                 "limit in the domain XML, where it has one)")

    @staticmethod
    def counters(sample: DomainSample) -> Counters:
        """Each interface's cumulative counters, by target name."""
        counters = {}
        for nic in sample.nics:
            values = {name: getattr(nic, name) for name in _COUNTERS
                      if getattr(nic, name) is not None}
            if nic.name is not None and values:
                counters[nic.name] = values
        return counters

    @staticmethod
    def devices(sample: DomainSample) -> dict[str, list[str]]:
        """The interfaces a threshold label may name."""
        return {"nic": [nic.name for nic in sample.nics if nic.name is not None]}

    @staticmethod
    def selected(sample: DomainSample, options) -> list[NicSample]:
        """The interfaces to report (those without statistics are never reported)."""
        selection = Selection("interface", _lowercase_macs(getattr(options, "interface", ())),
                              _lowercase_macs(getattr(options, "exclude_interface", ())))
        return selection.choose(sample.nics, _answers_to,
                                lambda nic: not _has_statistics(nic))

    def readings(self, measurement: Measurement, options) -> list[Reading]:
        """Per-interface readings of the chosen interfaces, then the totals."""
        link_speed = getattr(options, "speed", None)
        readings = []
        for nic in self.selected(measurement.sample, options):
            if _has_statistics(nic):
                readings += self._nic_readings(measurement, nic, link_speed)
        return readings + self._totals(readings)

    def _nic_readings(self, measurement: Measurement, nic: NicSample,
                      link_speed: Optional[float]) -> list[Reading]:
        rates = measurement.rates.get(nic.name, {})
        readings = []
        for direction in DIRECTIONS:
            speed = link_speed or getattr(nic, f"{direction.key}_limit_bps")
            readings += self._traffic(nic.name, direction, rates, speed)
            readings += self._losses(nic.name, direction, rates)
        return readings + self._cumulative(nic)

    @staticmethod
    def _traffic(name: str, direction: Direction, rates: dict,
                 link_speed: Optional[float]) -> list[Reading]:
        readings = []
        if direction.counter("bytes") in rates:
            bits = rates[direction.counter("bytes")] * BITS_PER_BYTE
            readings.append(Reading.of(direction.bits, bits,
                                       Phrase(f"{name} {direction.key} ", "", human_bits), name,
                                       maximum=link_speed))
            if link_speed:
                usage = min(bits / link_speed * 100, 100.0)
                readings.append(Reading.of(direction.usage, usage,
                                           Phrase(f"{name} {direction.key} ",
                                                  f"% of {human_bits(link_speed)}"),
                                           name, maximum=100))
        if direction.counter("packets") in rates:
            packets = rates[direction.counter("packets")]
            readings.append(Reading.of(direction.packets, packets,
                                       Phrase(f"{name} {direction.key} ", " packets/s"), name))
        return readings

    @staticmethod
    def _losses(name: str, direction: Direction, rates: dict) -> list[Reading]:
        readings = []
        packets = rates.get(direction.counter("packets"))
        for field, per_second, pct in (("errors", direction.errors, direction.errors_pct),
                                       ("drops", direction.drops, direction.drops_pct)):
            lost = rates.get(direction.counter(field))
            if lost is None:
                continue
            words = f"{name} {direction.key} {field}"
            readings.append(Reading.of(per_second, lost, Phrase(f"{words} ", "/s"), name))
            if packets is not None:
                share = loss_pct(lost, packets)
                readings.append(Reading.of(pct, share, Phrase(f"{words} ", "%"), name,
                                           maximum=100))
        return readings

    @staticmethod
    def _cumulative(nic: NicSample) -> list[Reading]:
        readings = []
        for direction in DIRECTIONS:
            value = getattr(nic, direction.counter("bytes"))
            if value is not None:
                readings.append(Reading.of(direction.cumulative_bytes, value,
                                           Phrase(f"{nic.name} {direction.key} ", " in all",
                                                  human_bytes), nic.name))
        return readings

    @staticmethod
    def _totals(readings: list[Reading]) -> list[Reading]:
        totals = []
        for direction in DIRECTIONS:
            values = [reading.value for reading in readings if reading.spec is direction.bits]
            if values:
                value = sum(values)
                totals.append(Reading.of(direction.total_bits, value,
                                         Phrase(f"all interfaces {direction.key} ", "",
                                                human_bits)))
        return totals

    def unmeasured_reason(self, measurement: Measurement, options,
                          target: Target) -> Optional[str]:
        """Why an interface label has no value in this run, where the check knows."""
        chosen = [nic for nic in self.selected(measurement.sample, options)
                  if _has_statistics(nic)]
        return device_label_reason(
            target.device, chosen, measurement.sample.nics,
            lambda nic: _why_unmeasured(nic, target.spec, measurement, options),
            lambda nic: _why_left_out(nic, options))

    def condition(self, measurement: Measurement, options) -> Optional[Condition]:
        """UNKNOWN, and why, when no reported interface has counters to measure."""
        nics = measurement.sample.nics
        if any(_has_statistics(nic) for nic in self.selected(measurement.sample, options)):
            return None
        if not nics:
            return Condition(Unknown, "the domain has no network interfaces")
        if any(_has_statistics(nic) for nic in nics):
            return Condition(Unknown, "no interface left to report (see --interface and "
                                      "--exclude-interface)")
        return Condition(Unknown, "no interface has traffic statistics (one without a "
                                  "host-side device, such as user-mode networking, has none)")

    def ok_text(self, measurement: Measurement, readings: list[Reading]) -> str:
        """One calm line: how many interfaces, bits both ways, the busiest interface."""
        traffic: dict[str, float] = {}
        for reading in readings:
            if reading.spec in (RX.bits, TX.bits):
                traffic[reading.device] = traffic.get(reading.device, 0.0) + reading.value
        if not traffic:
            return "no traffic rates this run (counters were reset during it)"
        totals = {reading.spec: reading.value for reading in readings if reading.device is None}
        busiest = max(traffic, key=traffic.__getitem__)
        count = len(traffic)
        return (f"{count} interface{'s' if count != 1 else ''}: "
                f"rx {human_bits(totals.get(RX.total_bits, 0.0))}, "
                f"tx {human_bits(totals.get(TX.total_bits, 0.0))} (busiest {busiest})")

    def details(self, measurement: Measurement, options) -> list[str]:
        """With -v: every interface, with its MAC and source, and what is reported of it."""
        chosen = [id(nic) for nic in self.selected(measurement.sample, options)]
        lines = [_describe(nic, id(nic) in chosen) for nic in measurement.sample.nics]
        link_speed = getattr(options, "speed", None)
        if link_speed:
            lines.append(f"usage in percent of --speed {human_bits(link_speed)} each way")
        return lines


def _why_left_out(nic: NicSample, options) -> str:
    """Why an interface of the domain is not reported."""
    if not _has_statistics(nic):
        return f"interface {nic.name} has no traffic statistics"
    if _answers_to(nic) & set(_lowercase_macs(getattr(options, "exclude_interface", ()))):
        return f"--exclude-interface leaves interface {nic.name} out"
    named = getattr(options, "interface", ())
    return (f"interface {nic.name} is not among the interfaces --interface names "
            f"({', '.join(named)})")


def _why_unmeasured(nic: NicSample, spec: LabelSpec, measurement: Measurement,
                    options) -> Optional[str]:
    """Why one reported interface has no value for a metric, where the sample tells."""
    direction = next((d for d in DIRECTIONS if d.needs(spec)), None)
    if direction is None:
        return None
    missing = [counter for counter in direction.needs(spec) if getattr(nic, counter) is None]
    if missing:
        words = " and no ".join(counter.replace("_", " ") for counter in missing)
        return f"this driver reports no {words} for interface {nic.name}"
    if spec is direction.usage and not (getattr(options, "speed", None)
                                        or getattr(nic, f"{direction.key}_limit_bps")):
        return (f"interface {nic.name} has no link speed to take {direction.key} usage of: give "
                f"--speed (e.g. --speed 1G) or a <bandwidth> limit in the domain XML")
    if spec is not direction.cumulative_bytes and nic.name not in measurement.rates:
        return (f"the counters of interface {nic.name} went back during the run (it was "
                "reset); the next run measures again")
    return None


def _describe(nic: NicSample, chosen: bool) -> str:
    name = nic.name or "without host-side device"
    line = f"interface {name}: mac {nic.mac or 'unknown'}, source {nic.source or 'none'}"
    if nic.rx_limit_bps or nic.tx_limit_bps:
        line += (f", bandwidth limit rx {_limit_text(nic.rx_limit_bps)}, "
                 f"tx {_limit_text(nic.tx_limit_bps)}")
    if not _has_statistics(nic):
        return line + ": no statistics available"
    return line + ("" if chosen else " (not reported)")


def _limit_text(limit: Optional[float]) -> str:
    return human_bits(limit) if limit else "none"


CHECK = NicCheck()
