"""Run fabcoord's command line with cProfile on every thread (``cProfile`` alone sees only the
main thread, and the dispatcher's database work runs on worker threads); the merged statistics
go to ``$PROFILE_OUT`` when the command ends.

``PROFILE_OUT=FILE python bench/profile_threads.py --db URL farm run ...``
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

_profiles: list[cProfile.Profile] = []
_thread_run = threading.Thread.run


def _profiled_run(self: threading.Thread) -> None:
    profile = cProfile.Profile(time.thread_time)
    _profiles.append(profile)
    profile.enable()
    try:
        _thread_run(self)
    finally:
        profile.disable()


def main() -> None:
    from cli import main as fabcoord

    threading.Thread.run = _profiled_run  # type: ignore[method-assign]
    sys.argv = ["fabcoord", *sys.argv[1:]]
    profile = cProfile.Profile(time.thread_time)
    _profiles.insert(0, profile)
    profile.enable()
    try:
        fabcoord()
    except SystemExit:
        pass
    finally:
        profile.disable()
        stats = pstats.Stats(_profiles[0])
        for other in _profiles[1:]:
            stats.add(other)
        stats.dump_stats(os.environ["PROFILE_OUT"])


if __name__ == "__main__":
    main()
