"""A run builds only the mounted module that holds its command; every command is still found."""

from __future__ import annotations

from typing import Any

import typer

import cli

ROOT: Any = typer.main.get_command(cli.app)


def built(*argv: str) -> Any:
    return typer.main.get_command(cli.narrowed(list(argv)))


def shape(command: Any) -> object:
    """What a user meets of a command: its options and, for a group, its commands'."""
    params = sorted((p.name or "", tuple(p.opts)) for p in command.params)
    commands = getattr(command, "commands", None)
    if commands is None:
        return params
    return params, {name: shape(sub) for name, sub in commands.items()}


def test_a_run_builds_only_the_module_that_holds_its_command() -> None:
    group = built("--db", "sqlite:///x.db", "--actor", "a", "report", "weekly", "--out", "r.pdf")
    assert set(group.commands) == {"report"}
    options = sorted((p.name or "", tuple(p.opts)) for p in ROOT.params)
    assert shape(group) == (options, {"report": shape(ROOT.commands["report"])})


def test_every_command_is_found_as_the_whole_root_has_it() -> None:
    for name, command in ROOT.commands.items():
        assert shape(built("--config", "f.env", name).commands[name]) == shape(command), name


def test_without_a_known_command_the_whole_root_answers() -> None:
    for argv in ([], ["--help"], ["--db", "sqlite:///x.db"], ["--version"], ["no-such-command"]):
        assert cli.narrowed(argv) is cli.app
