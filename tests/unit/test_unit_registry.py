"""Everything that names the checks agrees with libcheck/registry.py.

A check added to the registry and missed elsewhere (or left elsewhere after
leaving the registry) fails here, naming the place: its launcher in checks/,
pyproject's scripts, the Debian links and package description, README's
plugin table, its docs page and its golden --help. The checks of a VM and
those of a hypervisor alike (`ALL_CHECKS`): each is a plugin of the package.
The command definitions are generated from the registry
(test_unit_generate_conf.py); the package installs every launcher of checks/
(a glob in debian/check-vm.install).
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path

import pytest

from libcheck.cli import check_parser
from libcheck.registry import ALL_CHECKS, CHECKS, HOST_CHECKS, TOOLS

REPO = Path(__file__).resolve().parents[2]
EXECUTABLES = [entry.executable for entry in ALL_CHECKS]

# What every check's launcher is, but for its executable's name and status-line title.
LAUNCHER = '''#!/usr/bin/env python3
"""{executable}: a check of a KVM/QEMU VM for Nagios and Icinga (see --help)."""

import gc
import os
import sys

# From a checkout or the Debian package (where the plugin directories hold
# symlinks to this file), the library sits next to this file's directory;
# from a virtualenv, it is on the interpreter's path.
_CHECKOUT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
if os.path.isdir(os.path.join(_CHECKOUT, "libcheck")):
    sys.path.insert(0, _CHECKOUT)

# The imports leave no garbage to collect; libcheck.commands turns collection
# back on once the check's modules are loaded.
gc.disable()
try:
    from libcheck.commands import exit_at_once, {executable}
except ImportError as error:
    print(f"{title} UNKNOWN - cannot load the check_vm library ({{error}}): install "
          "the check-vm package, or check_vm into the virtualenv of this python3")
    sys.exit(3)

if __name__ == "__main__":
    try:
        {executable}()
    except SystemExit as end:
        exit_at_once(end.code)
'''


def test_the_registry_names_each_check_once():
    names = [entry.name for entry in ALL_CHECKS]
    assert len(set(names)) == len(names) and not set(EXECUTABLES) & set(TOOLS)
    assert ALL_CHECKS == CHECKS + HOST_CHECKS
    for entry in ALL_CHECKS:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", entry.name), entry.name
        assert entry.load().name == entry.name, f"{entry.module}'s CHECK is not '{entry.name}'"


# -- checks/ ----------------------------------------------------------------------

def test_checks_holds_a_launcher_per_check_and_tool_and_nothing_else():
    assert sorted(path.name for path in (REPO / "checks").iterdir()) == sorted(
        [*EXECUTABLES, *TOOLS])


@pytest.mark.parametrize("entry", ALL_CHECKS, ids=lambda entry: entry.name)
def test_a_check_launcher_is_the_template_with_its_name(entry):
    launcher = REPO / "checks" / entry.executable
    assert launcher.read_text(encoding="utf-8") == LAUNCHER.format(
        executable=entry.executable, title=entry.title)


@pytest.mark.parametrize("executable", [*EXECUTABLES, *TOOLS])
def test_every_launcher_is_executable(executable):
    assert os.access(REPO / "checks" / executable, os.X_OK)


# -- pyproject.toml ---------------------------------------------------------------

def project_scripts() -> dict[str, str]:
    """pyproject.toml's [project.scripts] (name = "module:function" lines; tomllib is not
    in every Python the project supports)."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    section = re.search(r"^\[project\.scripts\]\n(.*?)(?:^\[|\Z)", text, re.M | re.S)[1]
    return dict(re.findall(r'^(\S+) = "([^"]+)"$', section, re.M))


def test_pyproject_makes_an_entry_point_per_check_and_tool():
    scripts = project_scripts()
    assert sorted(scripts) == sorted([*EXECUTABLES, *TOOLS])
    for executable in EXECUTABLES:
        assert scripts[executable] == f"libcheck.commands:{executable}"


def test_the_entry_points_resolve():
    for executable, target in project_scripts().items():
        module, _, attribute = target.partition(":")
        assert callable(getattr(importlib.import_module(module), attribute)), executable


# -- debian/ ----------------------------------------------------------------------

def debian_links() -> dict[str, str]:
    """debian/check-vm.links: link -> target."""
    lines = (REPO / "debian" / "check-vm.links").read_text(encoding="utf-8").splitlines()
    return {link: target for target, link in (line.split() for line in lines if line.strip())}


def test_the_package_links_each_check_into_the_plugin_directory_and_each_tool_into_bin():
    expected = {f"usr/lib/nagios/plugins/{executable}": f"usr/share/check-vm/checks/{executable}"
                for executable in EXECUTABLES}
    expected.update({f"usr/bin/{tool}": f"usr/share/check-vm/checks/{tool}" for tool in TOOLS})
    assert debian_links() == expected


def test_the_package_installs_every_launcher_of_checks():
    lines = (REPO / "debian" / "check-vm.install").read_text(encoding="utf-8").splitlines()
    assert "checks/check_vm_* usr/share/check-vm/checks" in lines
    assert all(name.startswith("check_vm_") for name in [*EXECUTABLES, *TOOLS])


def test_the_package_description_lists_every_check_and_its_command():
    control = (REPO / "debian" / "control").read_text(encoding="utf-8")
    assert re.findall(r"^  \* (check_vm_\w+): ", control, re.M) == EXECUTABLES
    commands = " ".join(control.split())
    listed = ", ".join(entry.command for entry in ALL_CHECKS)
    assert f"CheckCommands {listed} and vm_alive " in commands


# -- documentation ----------------------------------------------------------------

def readme_plugin_table() -> list[str]:
    """The executables README's plugin table lists, in its order, with their page."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = re.search(r"^\| plugin \| what it measures \|\n\| --- \| --- \|\n((?:\|.*\n)+)",
                      text, re.M)
    assert table, "README.md has no plugin table"
    return re.findall(r"^\| \[`([\w]+)`\]\((docs/[\w.]+)\) \|", table[1], re.M)


def test_readme_lists_every_check_with_its_page_in_the_registry_order():
    assert readme_plugin_table() == [(executable, f"docs/{executable}.md")
                                     for executable in EXECUTABLES]


@pytest.mark.parametrize("executable", EXECUTABLES)
def test_every_check_has_its_docs_page(executable):
    page = REPO / "docs" / f"{executable}.md"
    assert page.is_file()
    assert page.read_text(encoding="utf-8").startswith(f"# {executable}\n")


def test_the_docs_have_no_page_of_an_unregistered_check():
    pages = sorted(path.stem for path in (REPO / "docs").glob("check_vm_*.md"))
    assert pages == sorted(EXECUTABLES)


# -- golden --help ----------------------------------------------------------------

def test_there_is_a_golden_help_per_check_and_no_other():
    golden = sorted(path.name for path in (REPO / "tests" / "data" / "golden").glob("*.help"))
    assert golden == sorted(f"{executable}.help" for executable in EXECUTABLES)


@pytest.mark.parametrize("entry", ALL_CHECKS, ids=lambda entry: entry.name)
def test_the_golden_help_is_what_the_parser_prints(entry, monkeypatch):
    # The executables are run with COLUMNS=100 when the golden files are compared.
    monkeypatch.setenv("COLUMNS", "100")
    golden = REPO / "tests" / "data" / "golden" / f"{entry.executable}.help"
    assert check_parser(entry.load()).format_help() == golden.read_text(encoding="utf-8")
