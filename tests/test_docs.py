"""Every command is documented: it has help text, and the README names every command group."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def walk(command: Any, path: str = "fabcoord") -> Iterator[tuple[str, Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk(sub, f"{path} {name}")


COMMANDS = list(walk(typer.main.get_command(cli.app)))


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_command_has_help(path: str, command: Any) -> None:
    assert command.help, f"{path} has no help"


@pytest.mark.parametrize("group", sorted(typer.main.get_command(cli.app).commands))  # type: ignore[attr-defined]
def test_readme_mentions_every_command_group(group: str) -> None:
    assert f"fabcoord {group}" in README or f" {group} " in README
