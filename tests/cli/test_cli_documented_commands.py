"""Every ``compmech`` command the README and the documentation pages show parses with today's
parsers (so a renamed or removed option cannot survive in the documentation)."""

import re
import shlex
from pathlib import Path

import pytest

from compmech.cli import build_parser
from compmech.cli.common import UsageError

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def documented_commands() -> list[tuple[str, str]]:
    """``(page, command)`` for every line of a fenced code block that starts with ``compmech ``
    (a trailing ``# comment`` removed; ``\\`` continuations joined)."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for block in re.findall(r"```(?:bash|sh|console)\n(.*?)```", text, flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip()
                if line.startswith("compmech "):
                    found.append((page.relative_to(ROOT).as_posix(),
                                  line.split(" #", 1)[0].strip()))
    return found


COMMANDS = documented_commands()


def test_the_documentation_shows_commands():
    assert len(COMMANDS) >= 40
    assert {p for p, _ in COMMANDS} >= {"README.md", "docs/training.md", "docs/probing.md"}


@pytest.mark.parametrize("page, command", COMMANDS, ids=[f"{p}: {c}" for p, c in COMMANDS])
def test_documented_command_parses(page, command):
    parser = build_parser()
    argv = shlex.split(command)[1:]
    try:
        args, extra = parser.parse_known_args(argv)
    except (UsageError, SystemExit) as err:
        pytest.fail(f"{page}: `{command}` does not parse: {err}")
    assert not extra, f"{page}: `{command}`: unrecognized {extra}"
