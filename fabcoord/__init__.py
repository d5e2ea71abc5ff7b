"""fabcoord core: configuration, database access and the append-only stock ledger.

The capability packages (``suppliers``, ``orders``, ``print_farm``) build on this core and never on
each other; ``cli`` composes them.
"""

__version__ = "0.1.0"
