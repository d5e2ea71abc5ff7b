"""``fabcoord run``: the service, several parts supervised in one process.

- :mod:`.supervisor` runs each part on a thread of its own, restarts a crashed one after a back-off
  (1 s, 2 s, … 60 s) and logs it, the others going on;
- :mod:`.board` holds each part's state where other processes (the web workers) can read it;
- :mod:`.health` answers ``/healthz`` and ``/readyz`` in front of the web application (plain ASGI);
- :mod:`.parts` is the registry the composition root (``cli.py``) fills: which parts run, which
  readiness checks the capability packages add;
- :mod:`.logs` writes the logs to stderr, as text or JSON lines.

The core imports no capability package: each part is named by ``"module:function"`` and loaded
when the service starts.
"""
