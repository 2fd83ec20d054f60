"""The JSON form of samples and device descriptions, for the host snapshot.

Each named tuple becomes an object of its fields; reading it back checks
every field against the type its class declares and the range libvirt can
give it (a counter or size within 64 bits and never negative, a count of
vCPUs or devices within libvirt's limits, a time finite), so a damaged or
crafted file raises ValueError instead of handing a check a wrong number.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping

from libcheck.discovery import Description, Devices, DiskDevice, NicDevice
from libcheck.records import NamedTuple
from libcheck.samples import (
    MAX_C_INT,
    MAX_COUNTER,
    CpuSample,
    DiskError,
    DiskSample,
    DomainIdentity,
    DomainSample,
    DomainState,
    HostDomain,
    HostSummary,
    MemorySample,
    NicSample,
    NodeSample,
    VcpuSample,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    Decoder = Callable[[Any], Any]

# libvirt's remote protocol carries at most 16384 vCPUs of one domain
# (REMOTE_VCPUINFO_MAX): no domain a check can read has more.
MAX_VCPUS = 16384
# A domain's record in the bulk answer holds at most 262144 parameters
# (REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX), a dozen or more per disk or
# interface: 16384 of a kind is more than any domain can report.
MAX_DEVICES = 16384
# libvirt lists at most 16384 domains of a host in one answer
# (REMOTE_DOMAIN_LIST_MAX); a summary has one row each.
MAX_DOMAINS = 16384
# Far above the CPUs of any host libvirt runs on (Linux's own limit is 8192).
MAX_HOST_CPUS = 16384
# The balloon reports about fifteen statistics; a few times that is generous.
MAX_BALLOON_ENTRIES = 64


_PLAIN = frozenset({int, float, str, bool, type(None)})


def encode(value: Any) -> Any:
    """A sample, description or any field of one, as JSON-ready values."""
    # Most fields are plain numbers: a refresh encodes every field of every
    # domain, so they go first and by exact type.
    if type(value) in _PLAIN:
        return value
    if isinstance(value, tuple):
        if hasattr(value, "_fields"):
            return {name: encode(item) for name, item in zip(value._fields, value)}
        return [encode(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {key: encode(item) for key, item in value.items()}
    return value


def decode_sample(data: Any) -> DomainSample:
    """A DomainSample from its JSON form; ValueError for anything malformed."""
    return _record(DomainSample)(data)


def decode_summary(data: Any) -> HostSummary:
    """A HostSummary from its JSON form; ValueError for anything malformed."""
    return _record(HostSummary)(data)


def decode_description(data: Any) -> Description:
    """A Description from its JSON form; ValueError for anything malformed."""
    return _record(Description)(data)


def _integer(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{_shown(value)} is not an integer")
    return value


def _bounded(maximum: int, what: str) -> Decoder:
    """The decoder of an integer from 0 to `maximum`."""
    def decode(value: Any) -> int:
        if type(value) is int and 0 <= value <= maximum:
            return value  # nearly every field: no further call
        number = _integer(value)
        if not 0 <= number <= maximum:
            raise ValueError(f"{what} of {_shown(number)} is out of range")
        return number
    return decode


_counter = _bounded(MAX_COUNTER, "a counter")
_int32 = _bounded(MAX_C_INT, "a number")


def _number(value: Any) -> float:
    """A finite, non-negative number: every float of a sample is a time, a
    rate or a limit."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"{_shown(value)} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError("a number is out of range") from None
    if not math.isfinite(number):
        raise ValueError("a number is not finite")
    if number < 0:
        raise ValueError(f"a number {number!r} is negative")
    return number


def _shown(value: Any) -> str:
    """A value as a note shows it, cut short: a crafted one may be huge."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "a huge number"
    return text if len(text) <= 40 else text[:37] + "..."


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{_shown(value)} is not a string")
    return value


def _optional(decoder: Decoder) -> Decoder:
    return lambda value: None if value is None else decoder(value)


def _sequence(decoder: Decoder, limit: int) -> Decoder:
    def decode(value: Any) -> tuple:
        if not isinstance(value, list):
            raise ValueError(f"{_shown(value)} is not a list")
        if len(value) > limit:
            raise ValueError(f"a list of {len(value)} items is longer than {limit}")
        return tuple(decoder(item) for item in value)
    return decode


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ValueError(f"{_shown(value)} is not an object")
    if len(value) > MAX_BALLOON_ENTRIES:
        raise ValueError(f"an object of {len(value)} entries has more than "
                         f"{MAX_BALLOON_ENTRIES}")
    return {_text(key): _counter(item) for key, item in value.items()}


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{_shown(value)} is not true or false")
    return value


def _state(value: Any) -> DomainState:
    return DomainState.from_libvirt(_int32(value))


def _record(cls: type[NamedTuple]) -> Decoder:
    """The decoder of a named tuple: every declared field, each of its type."""
    # A summary holds a record per domain: each field's decoder is looked up
    # once per class (on first use: the table below is filled after this runs).
    plan: list[tuple[str, Decoder, bool, Any]] = []

    def decode(value: Any):
        if not isinstance(value, dict):
            raise ValueError(f"a {cls.__name__} is not an object")
        if not plan:
            plan.extend(_fields_plan(cls))
        values = []
        for name, decoder, required, default in plan:
            if name in value:
                values.append(decoder(value[name]))
            elif required:
                raise ValueError(f"a {cls.__name__} has no {name}")
            else:
                values.append(default)
        return cls._make(values)
    return decode


def _fields_plan(cls: type[NamedTuple]) -> list[tuple[str, Decoder, bool, Any]]:
    """Each field of `cls` in order: its name, decoder, whether the JSON form
    must hold it, and its default otherwise."""
    defaults = cls._field_defaults
    return [(name, _FIELD_RANGES.get((cls.__name__, name), _FIELD_TYPES[_spelling(annotation)]),
             name not in defaults, defaults.get(name))
            for name, annotation in cls.__annotations__.items()]


def _spelling(annotation: Any) -> str:
    # NamedTuple keeps a postponed annotation as a ForwardRef of its text.
    return getattr(annotation, "__forward_arg__", annotation)


# Every field annotation of the types above, spelled as their modules spell
# them: an integer is a libvirt counter or size unless _FIELD_RANGES says otherwise.
_FIELD_TYPES: dict[str, Decoder] = {
    "int": _counter,
    "float": _number,
    "str": _text,
    "Optional[int]": _optional(_counter),
    "Optional[float]": _optional(_number),
    "Optional[str]": _optional(_text),
    "Mapping[str, int]": _counts,
    "DomainState": _state,
    "bool": _flag,
}
_FIELD_TYPES.update({
    "DomainIdentity": _record(DomainIdentity),
    "Optional[CpuSample]": _optional(_record(CpuSample)),
    "Optional[MemorySample]": _optional(_record(MemorySample)),
    "tuple[VcpuSample, ...]": _sequence(_record(VcpuSample), MAX_VCPUS),
    "tuple[DiskSample, ...]": _sequence(_record(DiskSample), MAX_DEVICES),
    "tuple[NicSample, ...]": _sequence(_record(NicSample), MAX_DEVICES),
    "tuple[DiskDevice, ...]": _sequence(_record(DiskDevice), MAX_DEVICES),
    "tuple[NicDevice, ...]": _sequence(_record(NicDevice), MAX_DEVICES),
    "Devices": _record(Devices),
    "tuple[DiskError, ...]": _sequence(_record(DiskError), MAX_DEVICES),
    "NodeSample": _record(NodeSample),
})
_FIELD_TYPES["tuple[HostDomain, ...]"] = _sequence(_record(HostDomain), MAX_DOMAINS)

# The integer fields that are not counters or sizes, by (record, field).
_FIELD_RANGES: dict[tuple[str, str], Decoder] = {
    ("DomainIdentity", "domain_id"): _optional(_int32),
    ("DomainIdentity", "reason"): _int32,
    ("VcpuSample", "index"): _bounded(MAX_VCPUS - 1, "a vCPU index"),
    ("CpuSample", "vcpu_count"): _bounded(MAX_VCPUS, "a vCPU count"),
    ("MemorySample", "stats_period"): _optional(_int32),
    ("Description", "stats_period"): _optional(_int32),
    ("DiskError", "code"): _int32,
    ("HostDomain", "vcpus"): _optional(_bounded(MAX_VCPUS, "a vCPU count")),
    ("NodeSample", "cpus"): _bounded(MAX_HOST_CPUS, "a CPU count"),
}
