"""The ``fabcoord`` command: the composition root.

It holds the global options (``--db``, ``--actor``, ``--version``), makes the settings, mounts
each package's command module, and translates every expected failure into one line on stderr and
an exit code. The commands themselves live with their package (``fabcoord/commands/core.py``,
``orders/commands.py``, ``print_farm/commands.py``); what they share is in
``fabcoord/commands/face.py``.

Adding a package's commands is one mount line below: ``app.add_typer(pkg.commands.app)`` (see
:mod:`fabcoord.commands` for the whole pattern).
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

import orders.commands
import print_farm.commands
import suppliers.commands
import suppliers.handoff.commands
from fabcoord import __version__
from fabcoord.commands import batches, core, face, planning
from fabcoord.commands import report as report_commands
from fabcoord.commands import service as service_commands
from fabcoord.errors import FabcoordError
from fabcoord.reports.providers import providers as report_providers
from fabcoord.service.parts import registry as service_parts

app = typer.Typer(
    help="fabcoord: coordinate fablabs producing visors for hospitals, on one stock ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: typer's rich help costs more than the rest of --help
)
# --- the mounts: one line per package ------------------------------------------------------
app.add_typer(core.app)
app.add_typer(batches.app)
app.add_typer(orders.commands.app)
app.add_typer(print_farm.commands.app)
app.add_typer(suppliers.handoff.commands.app)
app.add_typer(suppliers.commands.app)
app.add_typer(report_commands.app)
app.add_typer(planning.app)
app.add_typer(service_commands.app)
# --- what each package adds to the reports (imported only when a report is made) -----------
report_providers.register("orders", "orders.report:figures")
report_providers.register("print_farm", "print_farm.report:figures")
report_providers.register("suppliers", "suppliers.report:figures")
report_providers.register("handoff", "suppliers.handoff.report:figures")

# --- what `fabcoord run` supervises, and what its /readyz checks (imported when it starts) ---
service_parts.web("orders.serving:run")
service_parts.part("dispatcher", "print_farm.daemon:run", heartbeat_s=90.0)
service_parts.part("outbox", "suppliers.handoff.daemon:run")
service_parts.part("mail", "orders.mail_worker:run")
service_parts.check("outbox_lag", "suppliers.handoff.daemon:outbox_ready")


def _show_version(value: bool) -> None:
    if value:
        face.say(f"fabcoord {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="Database URL (default FABCOORD_DATABASE_URL or sqlite:///fabcoord.db)."
        ),
    ] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Who is recorded on postings (default: $USER).")
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="Settings file (FABCOORD_…=value lines); the environment overrides it.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Show the version and exit.", callback=_show_version, is_eager=True
        ),
    ] = False,
) -> None:
    import logging

    from fabcoord.config import load_settings

    context = face.enter(load_settings(database_url=db, actor=actor, settings_file=config))
    logging.basicConfig(
        level=context.settings.log_level, format="%(levelname)s %(name)s: %(message)s"
    )
    ctx.call_on_close(context.close)
    _compose()


def _compose() -> None:
    """Wire each package's event handlers and the planner's providers (idempotent).

    Deferred: they are imported when the first event is published or the planner first asks, so
    a command that does neither (``stock show``) does not pay for importing them.
    """
    from fabcoord import events
    from fabcoord.planning import capacity

    events.subscribers.defer(_subscribe_handlers)
    capacity.providers.defer(_provide_capacity)
    capacity.providers.defer(_provide_on_order)
    capacity.providers.defer(_provide_partners)


def _subscribe_handlers(subscribers: Any) -> None:
    import orders.handlers
    import print_farm.handlers
    import suppliers.handoff.planning

    orders.handlers.subscribe(subscribers)
    print_farm.handlers.subscribe(subscribers)
    suppliers.handoff.planning.subscribe(subscribers)


def _provide_capacity(providers: Any) -> None:
    import print_farm.capacity

    print_farm.capacity.provide(providers)


def _provide_on_order(providers: Any) -> None:
    import suppliers.planning

    suppliers.planning.provide(providers)


def _provide_partners(providers: Any) -> None:
    import suppliers.handoff.planning

    suppliers.handoff.planning.provide(providers)


# --- entry point ---------------------------------------------------------------------------

NEGATIVE = re.compile(r"-[0-9.,]+")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI, translating every expected failure into one line and an exit code."""
    sys.exit(run(list(argv) if argv is not None else sys.argv[1:]))


def run(argv: list[str], command: Callable[..., Any] | None = None) -> int:
    """Run ``argv`` and return the exit code (used by ``main`` and the tests).

    Exit codes: 0 done; a ``FabcoordError``'s own ``exit_code`` (1, 2 for database and schema
    problems); 2 for a usage error or a database refusal; 130 when aborted.
    """
    try:
        chosen = command or narrowed(argv)
        result = chosen(args=argv, prog_name="fabcoord", standalone_mode=False)
    except FabcoordError as error:
        _error(str(error))
        return error.exit_code
    except typer.TyperException as error:  # click's errors, through typer's public base class
        return _usage_error(error)
    except typer.Abort:
        _error("aborted")
        return 130
    except typer.Exit as done:
        return int(done.exit_code)
    except Exception as error:
        refused = _database_refusal(error)
        if refused is None:
            raise
        _error(f"the database refused the operation: {refused}")
        return 2
    return int(result) if isinstance(result, int) else 0


_VALUED_OPTIONS = frozenset({"--db", "--actor", "--config"})


def narrowed(argv: Sequence[str]) -> typer.Typer:
    """The root with only the mounted modules that hold the command ``argv`` names.

    Typer turns every mounted command into a click command on each run (about 0.1 s CPU for the
    hundred of them), though a run uses one. Same root, same global options, same behaviour for
    that command; the whole root when ``argv`` names none of them (``--help``, a typo: click then
    lists or suggests every command)."""
    name = _command_name(argv)
    mounts = [m for m in app.registered_groups if name is not None and name in _names(m)]
    if not mounts:
        return app
    root = copy.copy(app)
    root.registered_groups = mounts
    return root


def _command_name(argv: Sequence[str]) -> str | None:
    """The first word of ``argv`` that is not a global option or its value."""
    words = iter(argv)
    for word in words:
        if word in _VALUED_OPTIONS:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _names(mount: Any) -> set[str]:
    """The groups and commands a mounted module adds to the root."""
    module = mount.typer_instance
    groups = {group.name for group in module.registered_groups}
    commands = {
        c.name or typer.main.get_command_name(c.callback.__name__)
        for c in module.registered_commands
        if c.callback is not None
    }
    return {name for name in groups | commands if name}


def _usage_error(error: typer.TyperException) -> int:
    option = getattr(error, "option_name", None)
    context = getattr(error, "ctx", None)
    if option is not None and hasattr(error, "possibilities"):  # no such option
        if NEGATIVE.fullmatch(option):
            _error(
                f"quantity {option} must be positive (to lower a balance after a "
                f"count: fabcoord stock adjust ITEM --at LOCATION --by {option})"
            )
            return 2
        _error(f"{error.format_message()} (see 'fabcoord --help')")
    elif error.exit_code == 2:  # any other usage error
        command_path = context.command_path if context is not None else "fabcoord"
        _error(f"{error.format_message()} (see '{command_path} --help')")
    else:
        _error(error.format_message())
    return error.exit_code


def _database_refusal(error: Exception) -> str | None:
    """The driver's first line when ``error`` is a database refusal the services did not foresee.

    SQLAlchemy is looked up, not imported: a command that never touched the database cannot
    have met one of its errors.
    """
    exc = sys.modules.get("sqlalchemy.exc")
    if exc is None or not isinstance(error, exc.DBAPIError):
        return None
    return str(error.orig).strip().splitlines()[0]


def _error(message: str) -> None:
    from rich.console import Console
    from rich.text import Text

    one_line = " ".join(message.split())
    Console(stderr=True, highlight=False, soft_wrap=True).print(Text(f"error: {one_line}"))


if __name__ == "__main__":
    main()
