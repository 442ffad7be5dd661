"""`unify run`, killed with SIGKILL at a chosen point of its Nth Delta commit.

UNIFY_CRASH_BEFORE=<table>:<n> kills the worker (its pipeline process and the worker
process itself) just before the n-th write to that table:
`checkpoints:3` leaves batch 3's orders, links and derived rows written but not its commit
(the checkpoint); `customer_links_log:3` leaves its derived rows and orders written, not its
links. Run as `python tests/integration/crashing_worker.py run -c CONFIG`.
"""
import multiprocessing
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sinks.delta import DeltaSink  # noqa: E402
from streams.cli import main  # noqa: E402


def crash_before(table: str, nth: int) -> None:
    append, writes = DeltaSink._append, [0]

    def crashing_append(self, name, rows, commit=None):
        if name == table:
            writes[0] += 1
            if writes[0] == nth:
                if multiprocessing.parent_process() is not None:  # the worker's pipeline process
                    os.kill(os.getppid(), signal.SIGKILL)
                os.kill(os.getpid(), signal.SIGKILL)
        return append(self, name, rows, commit)

    DeltaSink._append = crashing_append


# at import, so the pipeline process (which imports this module as its main) crashes too
if "UNIFY_CRASH_BEFORE" in os.environ:
    table, _, nth = os.environ["UNIFY_CRASH_BEFORE"].partition(":")
    crash_before(table, int(nth))

if __name__ == "__main__":
    main()
