"""One version everywhere: the library, the project metadata, the Debian changelog
and what every executable's --version prints."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from libcheck import __version__

REPO = Path(__file__).resolve().parents[2]
EXECUTABLES = sorted(path.name for path in (REPO / "checks").iterdir())


def test_the_project_takes_its_version_from_the_library():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "libcheck.__version__"}


def test_the_debian_changelog_names_the_librarys_version():
    first_line = (REPO / "debian" / "changelog").read_text().splitlines()[0]
    match = re.fullmatch(r"check-vm \(([^)]+)\) \S+; urgency=\w+", first_line)
    assert match, first_line
    assert match.group(1) == __version__


@pytest.mark.parametrize("executable", EXECUTABLES)
def test_every_executable_prints_the_version(executable):
    result = subprocess.run([sys.executable, str(REPO / "checks" / executable), "--version"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{executable} {__version__}\n"
