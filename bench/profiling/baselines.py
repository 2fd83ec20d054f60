"""The baselines a check run is compared with, as `python -c` programs.

- floor: `pass`, the interpreter's own start and exit;
- bare: import libvirt, open the URI read-only, look the domain up and make
  exactly the libvirt calls the check made in its traced steady-state run
  (bench/snapshot/apitrace.py), in the same order with the same arguments: nothing else;
- framework: bare, plus `import nagiosplugin`, plus the XML parser the check's
  run imported (today lxml.etree; xml.etree.ElementTree should it switch) when
  it fetched the domain XML (it fetches it only to parse it).

Calls that raised libvirtError in the check (e.g. blockStatsFlags on the test
driver) are made inside try/except, as the check makes them.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

FLOOR = "pass"
_LOOKUPS = ("c.lookupByName(", "c.lookupByUUIDString(", "c.lookupByID(")


class Call(NamedTuple):
    """One traced libvirt call, as code in terms of `c` and `d`."""

    code: str
    raised: bool


def parses_xml(calls: Sequence[Call]) -> bool:
    """Whether the check's path fetched (and so parsed) the domain XML."""
    return any(call.code.startswith("d.XMLDesc(") for call in calls)


def xml_imports(calls: Sequence[Call], parsers: Sequence[str]) -> list[str]:
    """The XML parser modules the framework baseline imports for these calls."""
    return list(parsers) if parses_xml(calls) else []


def _statement(call: Call) -> str:
    code = call.code
    if code.startswith("libvirt.openReadOnly("):
        code = f"c = {code}"
    elif code.startswith(_LOOKUPS) and not call.raised:
        code = f"d = {code}"
    if call.raised:
        return f"try:\n    {code}\nexcept libvirt.libvirtError:\n    pass"
    return code


def bare(calls: Sequence[Call]) -> str:
    """The bare baseline program for a check's traced calls."""
    return "\n".join(["import libvirt", *(_statement(call) for call in calls)])


def framework(calls: Sequence[Call], parsers: Sequence[str] = ("lxml.etree",)) -> str:
    """The bare program that also imports the plugin framework (and the XML parser)."""
    imports = ["import nagiosplugin", *(f"import {name}" for name in xml_imports(calls, parsers))]
    return "\n".join([*imports, bare(calls)])
