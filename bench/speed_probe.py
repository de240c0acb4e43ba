"""How fast this machine runs plain Python while a benchmark runs: a process of its own.

These shared virtual cores change speed with their load and their neighbours': this
loop took 1.2 ms of CPU with both cores busy and 1.8 ms with the machine idle, and the
same code's CPU per action moved between 9.5 and 14.5 ms within one morning. A figure
taken before or after a level measures another moment and another load. So this process
runs a small fixed loop a few times a second *during* the level and times it in CPU time
(``time.process_time``), which waiting for a core does not inflate: what changes it is
the speed of the core when it runs, the thing that makes the app's CPU per action move
without its code changing. It runs until its stdin closes, then prints one JSON line.

Within one minute the loop's times mostly fall in two groups (~13 and ~21 ms per
10**6), so the report divides by their mean: the median jumps from one group to the
other between runs of the same code.

Reported as ms per ``sum(range(10**6))`` (ten times the small loop), the figure
``python -m timeit "sum(range(10**6))"`` prints, so the two can be compared.
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time

SMALL_LOOP = 10**5  # ~1.2 ms of CPU: short enough not to matter to the machine
SCALE = 10  # reported per sum(range(10**6))
INTERVAL_S = 0.25
REPORTED_AS = "sum(range(10**6))"


def one_loop_ms() -> float:
    started = time.process_time_ns()
    sum(range(SMALL_LOOP))
    return (time.process_time_ns() - started) / 1e6 * SCALE


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"loop": REPORTED_AS, "samples": len(samples), "mean_ms": round(statistics.fmean(ordered), 2),
            "median_ms": round(statistics.median(ordered), 2),
            "p10_ms": round(ordered[len(ordered) // 10], 2), "p90_ms": round(ordered[len(ordered) * 9 // 10], 2)}


def main() -> int:
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    samples = [one_loop_ms()]  # at least one, however short the window
    while not done.wait(INTERVAL_S):
        samples.append(one_loop_ms())
    print(json.dumps(summary(samples)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
