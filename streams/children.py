"""What every child process of the CLI does first."""
from __future__ import annotations

import ctypes
import signal


def die_with_parent() -> None:
    """For a child process: killed when the thread that started it ends (a kill -9 of the
    worker leaves nothing behind)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
