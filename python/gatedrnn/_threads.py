"""Thread-count settings shared by every layer."""

from __future__ import annotations

import os
from typing import Optional

from . import _core

_default_threads: Optional[int] = None


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# The CPUs this process may run on, read once at import (a system call per layer call
# would cost more than a small layer's whole step).
_cpus = _available_cpus()
# The core keeps a copy for calls that pass num_threads=0 (the layers' default).
_core.set_default_threads(_cpus)


def set_num_threads(n: int) -> None:
    """Set the number of threads layers use when they were built without ``num_threads``.

    Threads split a call's hidden units; results are bitwise the same for any count.

    Args:
        n: an int >= 1.

    Raises:
        ValueError: ``n`` is not an int in [1, 2**31 - 1].

    Example::

        >>> previous = gatedrnn.get_num_threads()
        >>> gatedrnn.set_num_threads(1)
        >>> gatedrnn.get_num_threads()
        1
        >>> gatedrnn.set_num_threads(previous)
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 2**31 - 1:
        raise ValueError(f"n: expected an int in [1, 2**31 - 1], got {n!r}")
    global _default_threads
    _core.set_default_threads(n)
    _default_threads = n


def get_num_threads() -> int:
    """The number of threads layers use by default.

    Returns:
        The last :func:`set_num_threads`, else the number of CPUs this process may run
        on (its affinity mask, read at import).

    Example::

        >>> gatedrnn.get_num_threads() >= 1
        True
    """
    return _default_threads if _default_threads is not None else _cpus
