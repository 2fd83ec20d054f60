"""The documentation: README.md and docs/ against the programs and themselves.

The option and label tables must be what the parsers give (scripts/option_tables.py
writes them), every relative link must reach a file and heading of the
documentation, and README.md stays the short first page.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from harness.paths import load_script

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
README_LIMIT_BYTES = 20 * 1024


option_tables = load_script("option_tables")


# -- generated tables -------------------------------------------------------------

def test_the_tables_in_the_docs_are_what_the_parsers_give():
    report = option_tables.update(option_tables.doc_files(), option_tables.generated_tables(),
                                  write=False)
    stale = [str(path.relative_to(REPO)) for path in report.stale]
    assert stale == [], "run: python3 scripts/option_tables.py"
    assert report.undocumented == [], "every parser needs its table in the docs"


def test_check_mode_exits_1_and_names_the_stale_file(tmp_path, monkeypatch):
    page = tmp_path / "docs" / "options.md"
    page.parent.mkdir()
    page.write_text((DOCS / "options.md").read_text(encoding="utf-8").replace(
        "| `--max-age` |", "| `--max-age-edited-by-hand` |"), encoding="utf-8")
    monkeypatch.setattr(option_tables, "ROOT", tmp_path)
    report = option_tables.update([page], option_tables.generated_tables(), write=False)
    assert report.stale == [page]
    assert option_tables._print_report(report, check_only=True) == 1


def test_a_changed_help_text_makes_the_docs_stale(monkeypatch):
    cli = importlib.import_module("libcheck.cli")
    original = cli.build_parser

    def build_parser_with_new_help(*args, **kwargs):
        parser = original(*args, **kwargs)
        next(action for action in parser._actions if "--max-age" in action.option_strings
             ).help = "a new help text"
        return parser

    monkeypatch.setattr(cli, "build_parser", build_parser_with_new_help)
    report = option_tables.update(option_tables.doc_files(), option_tables.generated_tables(),
                                  write=False)
    assert DOCS / "options.md" in report.stale


def test_the_tables_are_the_same_in_any_environment(monkeypatch, tmp_path):
    expected = option_tables.generated_tables()
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", "test:///elsewhere")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert option_tables.generated_tables() == expected


def test_the_command_line_check_passes_on_the_repository():
    completed = subprocess.run([sys.executable, str(REPO / "scripts" / "option_tables.py"),
                                "--check"], capture_output=True, text=True, timeout=60,
                               check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.parametrize("help_text, description, default", [
    ("give up after this long (default: 10)", "give up after this long", "10"),
    ("state when stopped (ok, unknown; default: critical)", "state when stopped (ok, unknown)",
     "critical"),
    ("stale (default: 3 periods + 5 s; 0 accepts any age)", "stale (0 accepts any age)",
     "3 periods + 5 s"),
    ("the URI (default: $X, else y (z); remote ones pass)", "the URI (remote ones pass)",
     "$X, else y (z)"),
    ("leave this disk out (repeatable)", "leave this disk out (repeatable)", None),
])
def test_a_stated_default_moves_to_the_default_column(help_text, description, default):
    assert option_tables.split_default(help_text) == (description, default)


def test_cells_escape_pipes_and_tags_outside_code():
    assert option_tables.cell_text("`NAME|MAC` adds <nic>_rx") == "`NAME\\|MAC` adds &lt;nic&gt;_rx"


def test_a_marker_without_a_parser_is_an_error():
    text = "<!-- options:check_vm_nothing:begin -->\n<!-- options:check_vm_nothing:end -->\n"
    with pytest.raises(option_tables.MarkerError, match="check_vm_nothing"):
        option_tables.filled(text, {"options:common": "x"}, "page.md")


# -- links ------------------------------------------------------------------------

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def documentation_files() -> list[Path]:
    return [REPO / "README.md", *sorted(DOCS.glob("*.md"))]


def relative_links(path: Path) -> list[str]:
    """The link targets of a Markdown file, outside code, that are not URLs."""
    text = CODE_SPAN.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    return [target for target in LINK.findall(text)
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)]


def heading_anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    anchors, seen = set(), {}
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def link_problems(path: Path) -> list[str]:
    problems = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.is_file():
            problems.append(f"{target}: no such file")
        elif resolved not in documentation_files():
            problems.append(f"{target}: outside README.md and docs/ (not in the package)")
        elif anchor and anchor not in heading_anchors(resolved):
            problems.append(f"{target}: no heading with that anchor")
    return problems


@pytest.mark.parametrize("path", documentation_files(), ids=lambda path: path.name)
def test_every_relative_link_reaches_a_file_and_heading_of_the_docs(path):
    assert link_problems(path) == []


def test_the_link_check_sees_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[gone](missing.md) and `[code](ignored.md)`\n", encoding="utf-8")
    assert relative_links(page) == ["missing.md"]
    assert link_problems(page) == ["missing.md: no such file"]


def test_heading_anchors_follow_github(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Way (a): every VM\n## The Icinga tier (tests/icinga)\n## Notes\n"
                    "## Notes\n```\n# not a heading\n```\n", encoding="utf-8")
    assert heading_anchors(page) == {"way-a-every-vm", "the-icinga-tier-testsicinga", "notes",
                                     "notes-1"}


def test_readme_links_every_docs_page():
    linked = {(REPO / target.partition("#")[0]).resolve()
              for target in relative_links(REPO / "README.md")}
    assert sorted(set(DOCS.glob("*.md")) - linked) == []


# -- README -----------------------------------------------------------------------

def test_readme_stays_a_short_first_page():
    assert (REPO / "README.md").stat().st_size < README_LIMIT_BYTES
