"""Command modules: each package owns its commands; ``cli.py`` only mounts them.

The pattern, for a package ``pkg`` adding the group ``thing``:

1. ``pkg/commands.py`` is a typer sub-application without a name, whose groups and commands use
   only ``pkg`` and the core::

       import typer

       from fabcoord.commands import face
       from fabcoord.commands.face import JsonOption

       app = typer.Typer()
       thing_app = typer.Typer(help="Things of pkg.", no_args_is_help=True)
       app.add_typer(thing_app, name="thing")

       @thing_app.command("list")
       def thing_list(as_json: JsonOption = False) -> None:
           \"\"\"List things.\"\"\"
           from pkg import service  # imported by the command that uses it, never at the top

           with face.work(read_only=True) as session:
               rows = service.list_things(session=session)
           face.listing("things", ["name", "qty"], rows, lambda t: [t.name, t.qty],
                        as_json=as_json)

2. ``cli.py`` mounts it with one line: ``app.add_typer(pkg.commands.app)``.
3. Failures are raised as ``FabcoordError`` subclasses (each with its ``exit_code``); ``cli.run``
   prints them as one line on stderr and exits with that code. Commands never call ``sys.exit``.
4. Its migrations join the core's registry with an entry point in ``pyproject.toml``
   (``[project.entry-points."fabcoord.migrations"]``, ``pkg = "pkg:MIGRATIONS"``).

Only command modules and ``cli.py`` import typer and rich (an import-linter contract); the helpers
they share are in :mod:`fabcoord.commands.face`; the core's own commands in
:mod:`fabcoord.commands.core`.
"""
