"""in_parallel: the hooks' probes on two threads, results in order, the wide ones alone after."""

from __future__ import annotations

import threading
import time

from compmech.probing.job import PROBE_THREADS, in_parallel


def test_results_come_in_input_order_and_the_last_items_run_alone_after_the_others():
    log = []
    lock = threading.Lock()
    running = [0]

    def f(item):
        with lock:
            running[0] += 1
            log.append((item, running[0], threading.current_thread().name))
        time.sleep(0.02 * (5 - item) if item < 5 else 0.001)  # early items finish last
        with lock:
            running[0] -= 1
        return item * item

    assert list(in_parallel(f, range(7), alone=2)) == [i * i for i in range(7)]
    seen = {item: (concurrent, thread) for item, concurrent, thread in log}
    assert max(c for c, _ in seen.values()) == PROBE_THREADS == 2  # the shared ones overlapped
    for item in (5, 6):  # alone: on the calling thread, nothing else running
        assert seen[item] == (1, threading.current_thread().name)
    assert [item for item, _, _ in log][-2:] == [5, 6]
