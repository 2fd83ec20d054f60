"""A packaged systemd service, started the way systemd would start it, without systemd.

No systemd runs here, so the tier reads the package's unit and does what
systemd does with it: the environment of Environment= and EnvironmentFile=
(the files win), UMask=, every ExecStartPre= in turn, then ExecStart= as the
main process, in a process group of its own. Stopping is SIGTERM to the main
process, then SIGKILL to whatever is left of its group (KillMode=mixed), then
ExecStopPost=.

The one liberty: the main process gets a network namespace with nothing but
loopback, so nothing a stock configuration does leaves the machine (Nagios's
check_for_updates=1 calls api.nagios.org). Unix sockets, libvirt's included,
are files and are reached as before.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from harness.icinga.environment import stop_session
from harness.vm.host import run

UNIT_DIR = Path("/lib/systemd/system")
# What systemd gives a system service before the unit's own variables.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LOOPBACK_ONLY = ("unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh")
DEFAULT_UMASK = "0022"
STOP_TIMEOUT = 30

_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"', " ": " "}
_EMBEDDED_VARIABLE = re.compile(r"\$\$|\$\{(\w+)\}")
_WHOLE_WORD_VARIABLE = re.compile(r"\$(\w+)")


def split_words(text: str) -> list[str]:
    """systemd's word splitting: quotes group, and backslash escapes count inside
    quotes too (unlike a shell's single quotes)."""
    words, word, quote = [], None, None
    characters = iter(text)
    for character in characters:
        if character == "\\":
            following = next(characters, "")
            word = (word or "") + _ESCAPES.get(following, "\\" + following)
        elif quote is not None:
            if character == quote:
                quote = None
            else:
                word += character
        elif character in "'\"":
            quote, word = character, word or ""
        elif character.isspace():
            if word is not None:
                words.append(word)
            word = None
        else:
            word = (word or "") + character
    return words if word is None else [*words, word]


def expand(words: list[str], environment: dict[str, str]) -> list[str]:
    """systemd's variables: `$NAME` alone becomes its value's words, `${NAME}` one
    word (empty when unset), `$$` a dollar sign."""
    argv = []
    for word in words:
        whole = _WHOLE_WORD_VARIABLE.fullmatch(word)
        if whole:
            argv += environment.get(whole[1], "").split()
        else:
            argv.append(_EMBEDDED_VARIABLE.sub(
                lambda match: "$" if match[0] == "$$" else environment.get(match[1], ""), word))
    return argv


def read_unit(path: Path) -> dict[str, list[str]]:
    """The [Service] settings of a unit file, each key with its values in order."""
    settings: dict[str, list[str]] = {}
    section = None
    for line in (raw.strip() for raw in path.read_text().splitlines()):
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith(("#", ";")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def assignments(lines: list[str]) -> dict[str, str]:
    """NAME=VALUE pairs, quotes removed, as in Environment= and environment files."""
    pairs = {}
    for line in lines:
        for word in split_words(line):
            if "=" in word:
                name, value = word.split("=", 1)
                pairs[name] = value
    return pairs


def environment_file(spec: str) -> dict[str, str]:
    """The variables of an EnvironmentFile= (`-` in front: the file may be missing)."""
    path = Path(spec.lstrip("-"))
    if not path.exists() and spec.startswith("-"):
        return {}
    lines = [line.strip() for line in path.read_text().splitlines()]
    return assignments([line for line in lines if line and not line.startswith(("#", ";"))])


class PackagedService:
    """One service of a package (`icinga2`, `nagios4`), run from its own unit file."""

    def __init__(self, name: str, output: Path) -> None:
        self.name = name
        self.settings = read_unit(UNIT_DIR / f"{name}.service")
        self.environment = self._environment()
        self.umask = int(self.settings.get("UMask", [DEFAULT_UMASK])[-1], 8)
        self.output = output
        self.process: subprocess.Popen | None = None

    def _environment(self) -> dict[str, str]:
        environment = {"PATH": SYSTEM_PATH, **assignments(self.settings.get("Environment", []))}
        for spec in self.settings.get("EnvironmentFile", []):
            environment.update(environment_file(spec))
        return environment

    def commands(self, key: str) -> list[tuple[list[str], bool]]:
        """The command lines of ExecStartPre= and the like: (argv, may it fail)."""
        commands = []
        for line in self.settings.get(key, []):
            words = expand(split_words(line), self.environment)
            prefix = re.match(r"[-@:+!]*", words[0])[0]
            commands.append(([words[0][len(prefix):], *words[1:]], "-" in prefix))
        return commands

    def start(self) -> None:
        """ExecStartPre= (each must succeed), then ExecStart= in the background."""
        for argv, may_fail in self.commands("ExecStartPre"):
            self._run(argv, check=not may_fail)
        [(argv, _)] = self.commands("ExecStart")
        with self.output.open("ab") as output:
            self.process = subprocess.Popen(
                [*LOOPBACK_ONLY, *argv], stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, env=self.environment, cwd="/",
                start_new_session=True, umask=self.umask)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM to the main process, SIGKILL to the rest, then ExecStopPost=."""
        process, self.process = self.process, None
        if process is None:
            return
        stop_session(process, STOP_TIMEOUT)
        for argv, _ in self.commands("ExecStopPost"):
            self._run(argv, check=False)

    def _run(self, argv: list[str], check: bool) -> None:
        run(argv, timeout=60, check=check, env=self.environment, cwd="/", umask=self.umask)

    def output_tail(self, lines: int = 20) -> str:
        text = self.output.read_text(errors="replace") if self.output.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
