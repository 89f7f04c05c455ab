"""Running the same database work in many threads at once, for the tests of rules that must hold under contention."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def race(db: Any, n: int, work: Callable[[Any, int], Any]) -> list[Any]:
    """Run `work(session, i)` in n threads released together, each in its own session; collect outcomes.

    Each outcome is what `work` returned (its session committed) or the exception it raised (rolled back).
    """
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        s = db.session()
        try:
            barrier.wait()
            results[i] = work(s, i)
            s.commit()
        except Exception as e:
            s.rollback()
            results[i] = e
        finally:
            s.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
