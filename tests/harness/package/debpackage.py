"""The check-vm Debian package: built from the checkout, installed, asked, purged.

`make deb` (scripts/build-deb.sh) builds dist/check-vm_<version>_all.deb and
leaves lintian's report in build/deb/lintian.txt; apt installs the file as an
operator would; dpkg answers what is installed where.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Iterator

from harness.paths import REPO
from harness.vm.host import CommandFailed, run, services_not_started

NAME = "check-vm"
BUILD_SCRIPT = REPO / "scripts" / "build-deb.sh"
LINTIAN_REPORT = REPO / "build" / "deb" / "lintian.txt"
APT_ENVIRONMENT = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
# What the package depends on: present before the install, so that apt needs
# no package lists to install the local file.
RUNTIME_PACKAGES = ("python3-libvirt", "python3-lxml", "python3-nagiosplugin")


class BuildFailed(Exception):
    """`make deb` did not produce a package; the message holds its output."""


def build() -> Path:
    """Run `make deb`'s script from the checkout; the path of the .deb it made."""
    try:
        result = run(["sh", str(BUILD_SCRIPT)], timeout=900, cwd=REPO)
    except CommandFailed as exc:
        raise BuildFailed(str(exc)) from exc
    built = re.search(r"^deb: (\S+\.deb)$", result.stdout, re.MULTILINE)
    if not built:
        raise BuildFailed(f"no 'deb: FILE' line in:\n{result.stdout}{result.stderr}")
    return REPO / built[1]


def lintian_lines(tag: str) -> list[str]:
    """Lines of the last build's lintian report of one kind: 'E' errors, 'W' warnings."""
    lines = LINTIAN_REPORT.read_text().splitlines()
    return [line for line in lines if line.startswith(f"{tag}:")]


def install(deb: Path) -> None:
    """`apt-get install -y ./dist/<deb>` from the checkout, with no daemon started."""
    with services_not_started():
        run(["apt-get", "install", "-y", f"./{deb.relative_to(REPO)}"], timeout=600,
            cwd=REPO, env=APT_ENVIRONMENT)


@contextlib.contextmanager
def installed() -> Iterator[Path]:
    """This checkout's package built and installed for a block; purged after it
    unless it was installed before. BuildFailed when `make deb` fails."""
    was_installed = status() == "installed"
    deb = build()
    try:
        install(deb)
        yield deb
    finally:
        if not was_installed and status() not in ("", "not-installed"):
            purge()


def purge() -> None:
    """`apt-get purge -y check-vm`."""
    run(["apt-get", "purge", "-y", NAME], timeout=300, env=APT_ENVIRONMENT)


def status() -> str:
    """dpkg's status of the package: 'installed', 'config-files', or '' when unknown."""
    result = run(["dpkg-query", "-W", "-f", "${db:Status-Status}", NAME], check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


def field(name: str) -> str:
    """One field of the installed package's control data (Version, Depends...)."""
    return run(["dpkg-query", "-W", "-f", f"${{{name}}}", NAME]).stdout.strip()


def depended_on() -> set[str]:
    """The package names in Depends, without architecture qualifiers or versions."""
    names = set()
    for alternatives in field("Depends").split(","):
        for alternative in alternatives.split("|"):
            names.add(alternative.split("(")[0].strip().split(":")[0])
    return names - {""}


def listed_paths() -> list[Path]:
    """Every path `dpkg -L` lists for the package (directories included)."""
    lines = run(["dpkg", "-L", NAME]).stdout.splitlines()
    return [Path(line) for line in lines if line.startswith("/") and line != "/."]


def shebang(script: Path) -> tuple[str, ...]:
    """The program and options of a script's `#!` line (`#! /usr/bin/python3 -S`:
    the program and "-S"); none when it has no such line."""
    with open(script, "rb") as handle:
        first = handle.readline().decode()
    return tuple(first[2:].split()) if first.startswith("#!") else ()


def conffiles() -> list[Path]:
    """The package's conffiles."""
    lines = field("Conffiles").splitlines()
    return [Path(line.split()[0]) for line in lines if line.strip()]


def owned_by_any_package(paths: list[Path]) -> set[Path]:
    """Those of `paths` that some installed package lists (`dpkg-query -S`)."""
    if not paths:
        return set()
    result = run(["dpkg-query", "-S", *map(str, paths)], check=False)
    owned = set()
    for line in result.stdout.splitlines():
        owned.update(Path(path.strip()) for path in line.split(": ", 1)[1:])
    return owned
