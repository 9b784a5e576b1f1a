"""MkDocs hooks of this site.

* Render ``compmech <command> --help`` for every command and sub-command into the CLI reference
  page at build time, from the argparse parsers themselves (so it cannot go stale). The page
  ``cli.md`` holds the marker ``<!-- compmech-cli -->``; this hook replaces it.
* The docstrings use Sphinx roles (``:func:`name```), which mkdocstrings leaves as text: turn each
  into a cross-reference (resolved by mkdocs-autorefs where the object is documented; plain code
  where it is not).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

MARKER = "<!-- compmech-cli -->"
SRC = Path(__file__).resolve().parents[2] / "src"


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """``(name, parser)`` of each sub-command of ``parser``, in the order ``--help`` lists them."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found += list(action.choices.items())
    return found


def _sections(parser: argparse.ArgumentParser, level: int) -> list[str]:
    lines = [f"{'#' * level} `{parser.prog}`", "", "```text", parser.format_help().rstrip(), "```",
             ""]
    for _, sub in _subcommands(parser):
        lines += _sections(sub, level + 1)
    return lines


def render_cli_reference() -> str:
    """The markdown of every command's help text (80 columns, as in a terminal)."""
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))
    from compmech.cli import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"
    try:
        parser = build_parser()
        lines = ["```text", parser.format_help().rstrip(), "```", ""]
        for _, sub in _subcommands(parser):
            lines += _sections(sub, 2)
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return "\n".join(lines)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 - mkdocs hook
    if MARKER in markdown:
        return markdown.replace(MARKER, render_cli_reference())
    return markdown


ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc|obj):<code>(~?)([^<]+)</code>")


def _role_to_autoref(match: re.Match, package: str | None) -> str:
    tilde, target = match.group(1), match.group(2).strip()
    target = target.rstrip("()")
    shown = target.rsplit(".", 1)[-1] if tilde else target
    identifier = target if "." in target or package is None else f"{package}.{target}"
    return f'<autoref identifier="{identifier}" optional><code>{shown}</code></autoref>'


def on_page_content(html: str, page, config, files) -> str:  # noqa: ARG001 - mkdocs hook
    if ":" not in html:
        return html
    # an API page documents one package: unqualified names in its docstrings are that package's
    parts = page.file.src_uri.split("/")
    package = parts[1].removesuffix(".md") if parts[0] == "api" and len(parts) == 2 else None
    return ROLE.sub(lambda m: _role_to_autoref(m, package), html)
