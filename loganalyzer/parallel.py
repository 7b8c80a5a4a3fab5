"""Read the logs of one big bundle on several cores.

The text logs of a bundle are independent while they are read: each file gets its own collector
(in a forked worker, or in this process), and the parts are merged in file order, which gives
what one process reading the files one after the other gives (``_Collector.merge``;
``tests/test_parallel.py`` compares the two). Files are spread by estimated size, biggest first,
over ``jobs`` processes (this one included). Small bundles, machines with one core, platforms
without ``fork`` and worker processes of a batch run read in one process.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

PARALLEL_MIN_BYTES = 24 << 20  # estimated text of a bundle's logs before a second process pays
GZ_RATIO = 7  # a gzip-rotated log is about this many times bigger than its file

_READ: list[Callable[[int], Any]] = []  # the job of the forked workers (set before they fork)


def cost(member) -> int:
    """Estimated bytes of text in a member."""
    size = member.size or 0
    return size * GZ_RATIO if str(member.path).endswith(".gz") else size


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def plan(members: Sequence, jobs: int | None) -> list[list[int]] | None:
    """Groups of member indexes, one per process, or None to read everything here."""
    if jobs == 1 or len(members) < 2:
        return None
    costs = [cost(m) for m in members]
    if jobs is None and sum(costs) < PARALLEL_MIN_BYTES:
        return None
    import multiprocessing as mp  # noqa: PLC0415 - start-up: only big bundles get here

    if "fork" not in mp.get_all_start_methods() or mp.current_process().daemon:
        return None
    n = min(jobs or cpus(), len(members), 16)
    if n < 2:
        return None
    groups: list[list[int]] = [[] for _ in range(n)]
    loads = [0] * n
    for i in sorted(range(len(members)), key=lambda i: -costs[i]):
        j = loads.index(min(loads))
        groups[j].append(i)
        loads[j] += costs[i]
    return [sorted(g) for g in groups if g]


def _worker_init() -> None:
    """A worker ends at SIGTERM without unwinding (the CLI's handler is for the main process)."""
    import signal  # noqa: PLC0415
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _work(group: list[int]) -> list[tuple[int, Any]]:
    read = _READ[0]
    return [(i, read(i)) for i in group]


def run(groups: list[list[int]], read: Callable[[int], Any]) -> dict[int, Any]:
    """``read(i)`` for every index of every group: the first group here, the others in forked
    workers. A worker that dies leaves its indexes out of the result (the caller reads them)."""
    import multiprocessing as mp  # noqa: PLC0415 - only big bundles use workers
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

    _READ[:] = [read]
    results: dict[int, Any] = {}
    try:
        with ProcessPoolExecutor(max_workers=len(groups) - 1, mp_context=mp.get_context("fork"),
                                 initializer=_worker_init) as pool:
            futures = [pool.submit(_work, g) for g in groups[1:]]
            for i, r in _work(groups[0]):
                results[i] = r
            for f in futures:
                try:
                    for i, r in f.result():
                        results[i] = r
                except Exception:  # noqa: BLE001 - a broken worker: its files are read here instead
                    pass
    finally:
        _READ.clear()
    return results
