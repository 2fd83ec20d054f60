"""The package's files are the recorded ones, and so are its command definitions.

tests/data/surface/package-files.json lists every path of the .deb `make deb`
builds (`dpkg-deb -c`, symlinks with their target; no sizes, modes or dates).
The library's own modules are held to the checkout's libcheck/*.py instead of
the record: they change with the code, the operator's files do not.
package-check-vm.conf and package-check-vm.cfg are the package's copies of the
Icinga 2 and Nagios command definitions, as installed. A file that appears,
vanishes or moves, or a changed byte of those two, fails here; when that is
meant, record again and name the change in the commit:

    CHECK_VM_SURFACE_RECORD=ROOT flock /tmp/checkvm-heavy.lock \\
        .venv/bin/pytest tests/package/test_package_files.py

where ROOT is the checkout whose package is recorded (this one: `.`); its
`make deb` builds the package recorded.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from harness.paths import REPO
from harness.vm.host import run

from libcheck.registry import ALL_CHECKS, TOOLS

pytestmark = pytest.mark.realvm

SURFACE = REPO / "tests" / "data" / "surface"
RECORD_FROM = "CHECK_VM_SURFACE_RECORD"
FILES_RECORD = SURFACE / "package-files.json"
# The installed command definitions, and the file of the record that holds each.
INSTALLED_DEFINITIONS = {
    Path("/usr/share/icinga2/include/plugins-contrib.d/check-vm.conf"): "package-check-vm.conf",
    Path("/etc/nagios-plugins/config/check-vm.cfg"): "package-check-vm.cfg",
}
LIBRARY = "./usr/share/check-vm/libcheck/"
_LISTED = re.compile(r"^\S+ \S+ +\d+ \S+ \S+ (?P<path>.+?)(?: -> (?P<target>.+))?$")


def package_paths(deb: Path) -> list[str]:
    """Every path the package holds, a symlink as `path -> target`, sorted."""
    paths = []
    for line in run(["dpkg-deb", "-c", str(deb)]).stdout.splitlines():
        listed = _LISTED.match(line)
        assert listed, f"unexpected dpkg-deb -c line: {line!r}"
        target = listed["target"]
        paths.append(f"{listed['path']} -> {target}" if target else listed["path"])
    return sorted(paths)


def packaged_text(deb: Path, installed: Path, scratch: Path) -> str:
    """A file of the package as the .deb holds it (unpacked under `scratch`)."""
    unpacked = scratch / deb.stem
    if not unpacked.is_dir():
        run(["dpkg-deb", "-x", str(deb), str(unpacked)])
    return (unpacked / installed.relative_to("/")).read_text(encoding="utf-8")


def built_in(root: Path) -> Path:
    """The .deb the `make deb` of the checkout `root` builds."""
    result = run(["sh", str(root / "scripts" / "build-deb.sh")], timeout=900, cwd=root)
    return root / re.search(r"^deb: (\S+\.deb)$", result.stdout, re.MULTILINE)[1]


def record_from(root: Path, scratch: Path) -> None:
    """Write the records from the package of the checkout `root`."""
    deb = built_in(root)
    FILES_RECORD.write_text(json.dumps(package_paths(deb), indent=2) + "\n", encoding="utf-8")
    for installed, name in INSTALLED_DEFINITIONS.items():
        (SURFACE / name).write_text(packaged_text(deb, installed, scratch), encoding="utf-8")


@pytest.fixture(scope="module")
def recorded_files(tmp_path_factory) -> list[str]:
    """The recorded paths (written first when CHECK_VM_SURFACE_RECORD names a checkout)."""
    if os.environ.get(RECORD_FROM):
        record_from(Path(os.environ[RECORD_FROM]).resolve(), tmp_path_factory.mktemp("record"))
    return json.loads(FILES_RECORD.read_text(encoding="utf-8"))


def library_modules(paths: list[str]) -> list[str]:
    """The paths of the library's modules."""
    return [path for path in paths if path.startswith(LIBRARY) and path != LIBRARY]


def outside_the_library(paths: list[str]) -> list[str]:
    """The paths but the library's modules, which change with the code, not for operators."""
    return [path for path in paths if path not in library_modules(paths)]


def test_the_package_holds_the_recorded_files(installed, recorded_files):
    assert outside_the_library(package_paths(installed)) == outside_the_library(recorded_files)


def test_the_package_holds_every_module_of_the_library(installed):
    modules = sorted(f"{LIBRARY}{path.name}" for path in (REPO / "libcheck").glob("*.py"))
    assert library_modules(package_paths(installed)) == modules


@pytest.mark.parametrize("installed_path", sorted(INSTALLED_DEFINITIONS), ids=str)
def test_the_installed_command_definitions_are_the_recorded_ones(installed, recorded_files,
                                                                 installed_path, tmp_path):
    recorded = (SURFACE / INSTALLED_DEFINITIONS[installed_path]).read_text(encoding="utf-8")
    assert installed_path.read_text(encoding="utf-8") == recorded
    assert packaged_text(installed, installed_path, tmp_path) == recorded


def test_the_record_has_every_executable(recorded_files):
    for executable in (*(entry.executable for entry in ALL_CHECKS), *TOOLS):
        assert f"./usr/share/check-vm/checks/{executable}" in recorded_files
