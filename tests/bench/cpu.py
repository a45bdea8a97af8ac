"""CPU used by a benchmark's process and by the local stack's function sandboxes (processes of their own)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def stack_cpu_seconds(stack: Any) -> float:
    """CPU used so far by this process (moto, the pollers) and by the live function sandboxes.

    A sandbox that exited meanwhile is not counted: compare two readings over a phase whose sandboxes stay up.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = time.process_time()
    for sandbox in stack.runtime.sandboxes():
        try:  # /proc/<pid>/stat: after the command's ")", utime and stime are the 12th and 13th fields
            fields = Path(f"/proc/{sandbox.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total
