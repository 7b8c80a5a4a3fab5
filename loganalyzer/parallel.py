"""Read the logs of one big bundle on several cores.

The text logs of a bundle are independent while they are read: each file gets its own collector
(in a forked worker, or in this process), and the parts are merged in file order, which gives
what one process reading the files one after the other gives (``_Collector.merge``;
``tests/test_fastpath.py`` compares the two). Files are taken biggest first (estimated size) from
one shared queue by ``jobs`` processes (this one included), each taking the next when it is free.
Small bundles, machines with one core, platforms without ``fork`` and worker processes of a batch
run read in one process.
"""
from __future__ import annotations

import os
from typing import Any, Callable, NamedTuple, Sequence

PARALLEL_MIN_BYTES = 24 << 20  # estimated text of a bundle's logs before a second process pays
GZ_RATIO = 7  # a gzip-rotated log is about this many times bigger than its file

_JOB: list = []  # read(i), the order, the shared count of members taken (set before the fork)


SLOW_READ = 4  # a log the fast path does not read costs about this many times more per byte


def cost(member, fast_kinds: frozenset[str] | tuple[str, ...] = ()) -> int:
    """Estimated bytes of text in a member, times :data:`SLOW_READ` when its kind is not one
    of ``fast_kinds`` (the bench's 4.8 MB extension.log takes as long as 18 MB of waagent.log)."""
    size = member.size or 0
    size = size * GZ_RATIO if str(member.path).endswith(".gz") else size
    return size if not fast_kinds or member.kind in fast_kinds else size * SLOW_READ


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Plan(NamedTuple):
    """Member indexes, biggest first, and the number of processes (this one included)."""

    order: list[int]
    processes: int


def plan(members: Sequence, jobs: int | None, fast_kinds: frozenset[str] | tuple[str, ...] = ()) -> Plan | None:
    """How to read ``members`` on several processes, or None to read everything here."""
    if jobs == 1 or len(members) < 2:
        return None
    costs = [cost(m, fast_kinds) for m in members]
    if jobs is None and sum(costs) < PARALLEL_MIN_BYTES:
        return None
    import multiprocessing as mp  # noqa: PLC0415 - start-up: only big bundles get here

    if "fork" not in mp.get_all_start_methods() or mp.current_process().daemon:
        return None
    n = min(jobs or cpus(), max(cpus(), 2), len(members), 16)  # --jobs 500 on 2 cores: 2, not 16
    if n < 2:
        return None
    return Plan(sorted(range(len(members)), key=lambda i: -costs[i]), n)


def _worker_init() -> None:
    """A worker ends at SIGTERM without unwinding (the CLI's handler is for the main process)."""
    import signal  # noqa: PLC0415
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _work() -> list[tuple[int, Any]]:
    """Read members until none is left: each process takes the next one when it is free, so a
    file that takes longer than its size suggests does not leave the other processes idle."""
    read, order, taken = _JOB
    done = []
    while True:
        with taken.get_lock():
            k = taken.value
            taken.value = k + 1
        if k >= len(order):
            return done
        done.append((order[k], read(order[k])))


def run(p: Plan, read: Callable[[int], Any]) -> dict[int, Any]:
    """``read(i)`` for every index of the plan: here and in ``p.processes - 1`` forked workers.
    A worker that dies leaves the indexes it took out of the result (the caller reads them)."""
    import multiprocessing as mp  # noqa: PLC0415 - only big bundles use workers
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415

    ctx = mp.get_context("fork")
    _JOB[:] = [read, p.order, ctx.Value("l", 0)]  # before the fork: the workers share the counter
    results: dict[int, Any] = {}
    try:
        with ProcessPoolExecutor(max_workers=p.processes - 1, mp_context=ctx,
                                 initializer=_worker_init) as pool:
            futures = [pool.submit(_work) for _ in range(p.processes - 1)]
            for i, r in _work():
                results[i] = r
            for f in futures:
                try:
                    for i, r in f.result():
                        results[i] = r
                except Exception:  # noqa: BLE001 - a broken worker: its files are read here instead
                    pass
    finally:
        _JOB.clear()
    return results
