"""Perfdata formatting: `'label'=value[UOM];[warn];[crit];[min];[max]`.

Labels made only of `[A-Za-z0-9_.-]` stay bare; any other label is put in
single quotes with a quote inside doubled, as the plugin guidelines say.
Characters no parser survives (`=`, `|`, control characters) become `_`.
Numbers never use exponent notation, and a threshold reads back as the
number it is, however small.
"""

from __future__ import annotations

import math
import re

from nagiosplugin import Range

from libcheck.records import NamedTuple
from libcheck.thresholds import format_range

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

_BARE_LABEL = r"^[A-Za-z0-9_.-]+$"
_UNPARSABLE = r"[=|\x00-\x1f\x7f]"


def quote_label(label: str) -> str:
    """A label as it must appear in perfdata."""
    label = re.sub(_UNPARSABLE, "_", label)
    if re.match(_BARE_LABEL, label):
        return label
    return "'" + label.replace("'", "''") + "'"


def format_value(value: Optional[float]) -> str:
    """A number in plain decimal notation (at most 4 decimals when it allows)."""
    if value is None:
        return ""
    if not math.isfinite(value):
        return "U"
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    for decimals in (4, 10):
        text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
        if text not in ("0", "-0"):
            return text
    return "0"


class Perfdata(NamedTuple):
    """One perfdata item; str() gives its wire form."""

    label: str
    value: float
    uom: str = ""
    warn: Optional[Range] = None
    crit: Optional[Range] = None
    minimum: Optional[float] = None
    maximum: Optional[float] = None

    def __str__(self) -> str:
        fields = [f"{quote_label(self.label)}={format_value(self.value)}{self.uom}",
                  format_range(self.warn), format_range(self.crit),
                  format_value(self.minimum), format_value(self.maximum)]
        while fields and fields[-1] == "":
            fields.pop()
        return ";".join(fields)
