"""The JSON form of samples and device descriptions, for the host snapshot.

Each named tuple becomes an object of its fields; reading it back checks
every field against the type its class declares, so a damaged file raises
ValueError instead of handing a check a wrong number.
"""

from __future__ import annotations

import enum
import math
from typing import Any, Callable, Mapping, NamedTuple

from libcheck.discovery import Description, Devices, DiskDevice, NicDevice
from libcheck.samples import (
    CpuSample,
    DiskSample,
    DomainIdentity,
    DomainSample,
    DomainState,
    MemorySample,
    NicSample,
    VcpuSample,
)

Decoder = Callable[[Any], Any]


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


def decode_description(data: Any) -> Description:
    """A Description from its JSON form; ValueError for anything malformed."""
    return _record(Description)(data)


def _integer(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{value!r} is not an integer")
    return value


def _number(value: Any) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError("a number is out of range") from None
    if not math.isfinite(number):
        raise ValueError("a number is not finite")
    return number


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    return value


def _optional(decoder: Decoder) -> Decoder:
    return lambda value: None if value is None else decoder(value)


def _sequence(decoder: Decoder) -> Decoder:
    def decode(value: Any) -> tuple:
        if not isinstance(value, list):
            raise ValueError(f"{value!r} is not a list")
        return tuple(decoder(item) for item in value)
    return decode


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ValueError(f"{value!r} is not an object")
    return {_text(key): _integer(item) for key, item in value.items()}


def _state(value: Any) -> DomainState:
    return DomainState.from_libvirt(_integer(value))


def _record(cls: type[NamedTuple]) -> Decoder:
    """The decoder of a named tuple: every declared field, each of its type."""
    def decode(value: Any):
        if not isinstance(value, dict):
            raise ValueError(f"a {cls.__name__} is not an object")
        fields = {}
        for name, annotation in cls.__annotations__.items():
            if name in value:
                fields[name] = _FIELD_TYPES[_spelling(annotation)](value[name])
            elif name not in cls._field_defaults:
                raise ValueError(f"a {cls.__name__} has no {name}")
        # typing's NamedTuple has the signature of the factory, not of a record class.
        return cls(**fields)  # type: ignore[call-overload]
    return decode


def _spelling(annotation: Any) -> str:
    # NamedTuple keeps a postponed annotation as a ForwardRef of its text.
    return getattr(annotation, "__forward_arg__", annotation)


# Every field annotation of the types above, spelled as their modules spell them.
_FIELD_TYPES: dict[str, Decoder] = {
    "int": _integer,
    "float": _number,
    "str": _text,
    "Optional[int]": _optional(_integer),
    "Optional[float]": _optional(_number),
    "Optional[str]": _optional(_text),
    "Mapping[str, int]": _counts,
    "DomainState": _state,
}
_FIELD_TYPES.update({
    "DomainIdentity": _record(DomainIdentity),
    "Optional[CpuSample]": _optional(_record(CpuSample)),
    "Optional[MemorySample]": _optional(_record(MemorySample)),
    "tuple[VcpuSample, ...]": _sequence(_record(VcpuSample)),
    "tuple[DiskSample, ...]": _sequence(_record(DiskSample)),
    "tuple[NicSample, ...]": _sequence(_record(NicSample)),
    "tuple[DiskDevice, ...]": _sequence(_record(DiskDevice)),
    "tuple[NicDevice, ...]": _sequence(_record(NicDevice)),
    "Devices": _record(Devices),
})
