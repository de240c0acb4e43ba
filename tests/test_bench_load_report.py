"""The load benchmark's figure helpers (bench/load_report.py, bench/load_stack.py): the
percentile definition, the app-log counting and the summary it prints. The benchmark itself is a
script that prints figures, never a test."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from load_report import ActionStats, cost_per_action, level_text, percentile, summary_text  # noqa: E402
from load_stack import MachineSampler, app_env_arg, log_counts  # noqa: E402


def test_an_app_setting_is_name_equals_value():
    assert app_env_arg("REFLEX_OPLOCK_ENABLED=false") == ("REFLEX_OPLOCK_ENABLED", "false")
    assert app_env_arg("A=x=y") == ("A", "x=y") and app_env_arg("EMPTY=") == ("EMPTY", "")
    for bad in ("NAME", "=value", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            app_env_arg(bad)


def test_percentile_is_nearest_rank():
    assert percentile([4, 1, 3, 2], 50) == 2
    assert percentile([4, 1, 3, 2], 75) == 3
    assert percentile([4, 1, 3, 2], 100) == 4
    assert percentile(list(range(1, 101)), 99) == 99
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([7.5], 1) == 7.5
    assert math.isnan(percentile([], 50))


def test_action_stats_count_failed_runs_in_the_percentiles():
    stats = ActionStats()
    for ms in (10, 20, 30):
        stats.add(ms, None)
    stats.add(10_000, "timeout (10 s)")
    s = stats.summary()
    assert (s["count"], s["errors"], s["p50_ms"], s["max_ms"]) == (4, 1, 20, 10_000)
    assert s["error_kinds"] == {"timeout (10 s)": 1}


EVENT = "reflex___state____state.support_app___state___base____app_state.support_app___state___login____login_state.submit"
LOG = f"""Warning: Page cases is being redefined with the same component.
Lock for token abc_reflex___state____state was held too long time_taken=1.5s, use @rx.event(background=True). Happened in event: {EVENT}
[Reflex Backend Exception]
 Traceback (most recent call last):
  File "x.py", line 1, in f
    g()
sqlite3.OperationalError: database is locked

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "y.py", line 2, in h
sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked
Warning: something else
2026-12-02 10:00:00 ERROR support_app.worker: send failed for attempt 12
[Reflex Backend Exception]
 Traceback (most recent call last):
  File "z.py", line 3, in k
reflex_base.utils.exceptions.LockExpiredError: Lock expired for token 1234"""


def test_log_counts_held_locks_by_event_and_each_error_report_once():
    counts = log_counts(LOG)
    assert counts["held_too_long"] == 1
    assert counts["held_too_long_by_event"] == {"login_state.submit": 1}
    assert counts["error_lines"] == 3
    assert counts["error_samples"][0].startswith("1x ")
    assert any("sqlalchemy.exc.OperationalError" in s for s in counts["error_samples"])
    assert any("LockExpiredError" in s for s in counts["error_samples"])
    assert any("send failed for attempt N" in s for s in counts["error_samples"])


def test_the_summary_shows_the_refund_senders_own_cpu_or_a_dash_when_it_is_embedded():
    def level(worker_cpu):
        return {"sessions": 10, "totals": {"actions_per_s": 9.5, "p50_ms": 12.0, "p95_ms": 40.0, "p99_ms": 60.0, "errors": 0},
                "server": {"app_cpu_pct": 20.0, "worker_cpu_pct": worker_cpu, "app_peak_rss_mb": 300.0,
                           "held_too_long": 0, "error_lines": 0}}
    text = summary_text({"configs": {"memory-sqlite": {"levels": [level(None)]}, "redis-postgres": {"levels": [level(7.4)]}}})
    rows = {line.split()[0]: line.split() for line in text.splitlines()[3:]}
    header = text.splitlines()[2].split()
    assert "sender%" in header
    assert rows["memory-sqlite"][8] == "-" and rows["redis-postgres"][8] == "7"  # after app CPU%


def test_the_summary_shows_cpu_the_virtual_machines_host_took_apart_from_other_processes():
    level = {"sessions": 50, "totals": {"actions_per_s": 40.0, "p50_ms": 30.0, "p95_ms": 90.0, "p99_ms": 150.0, "errors": 0},
             "server": {"app_cpu_pct": 60.0, "worker_cpu_pct": None, "app_peak_rss_mb": 300.0, "held_too_long": 0,
                        "error_lines": 0},
             "machine": {"machine_cpu_pct": 120.0, "others_cpu_pct": 12.0, "stolen_cpu_pct": 35.4}}
    text = summary_text({"configs": {"memory-sqlite": {"levels": [level]}}})
    header, row = text.splitlines()[2].split(), text.splitlines()[3].split()
    assert header[-6:-3] == ["CPU%", "others%", "stolen%"] and row[-5:-2] == ["120", "12", "35"]


def test_the_machine_sampler_counts_stolen_time_apart_from_busy_time(monkeypatch):
    readings = iter([(1000.0, 400.0, 50.0), (1010.0, 404.0, 53.0)])  # (all, idle, stolen) CPU seconds
    monkeypatch.setattr(MachineSampler, "_read", staticmethod(lambda: next(readings)))
    clock = iter([100.0, 105.0])
    monkeypatch.setattr("load_stack.time.monotonic", lambda: next(clock))
    sampler = MachineSampler()
    sampler.start()
    got = sampler.result()
    assert (got["machine_cpu_pct"], got["stolen_cpu_pct"]) == (60.0, 60.0)  # 10 s of CPU in 5 s: 4 idle, 3 stolen, 3 busy


def _level(**machine) -> dict:
    """A 50-session level of 2 workers: 40 actions/s, app 60 % + sender 6 % + PostgreSQL 12 % of a core."""
    return {"sessions": 50, "customers": 35, "agents": 15, "duration_s": 60, "workers": 2,
            "totals": {"actions": 2400, "actions_per_s": 40.0, "p50_ms": 30.0, "p95_ms": 90.0, "p99_ms": 150.0,
                       "errors": 0, "error_pct": 0.0, "msgs_in_per_s": 100, "msgs_out_per_s": 60},
            "server": {"app_cpu_pct": 60.0, "worker_cpu_pct": 6.0, "postgres_cpu_pct": 12.0, "sandbox_cpu_pct": 3.0,
                       "app_peak_rss_mb": 300.0, "held_too_long": 0, "error_lines": 0},
            "load_generator": {"cpu_pct": 9.0}, "actions": {},
            "machine": {"machine_cpu_pct": 95.0, "others_cpu_pct": 2.0, "stolen_cpu_pct": 0.0, "cores": 2,
                        "loadavg_start": 0.5, "loadavg_end": 1.5, **machine}}


def test_cpu_per_action_and_the_ceiling_it_sets_on_the_machines_cores():
    """App 60 % + sender 6 % + PostgreSQL 12 % of a core for 40 actions/s: 19.5 ms of server
    CPU per action, so 2 cores serve at most 2000 / 19.5 = 103 actions/s; the sandbox
    (the shop's systems) and the load generator are not counted."""
    level = _level()
    cost = cost_per_action(level)
    assert (cost["app_ms"], cost["server_ms"], round(cost["ceiling_per_s"])) == (15.0, 19.5, 103)
    assert "server side 19.5 ms (app + refund sender + PostgreSQL); at that cost 2 cores serve at most 103 actions/s" \
        in level_text("redis-postgres", level, [])
    header, row = summary_text({"configs": {"redis-postgres": {"levels": [level]}}}).splitlines()[2:4]
    assert row.split()[9] == "19.5" and header.split()[13] == "ms/act"  # after sender% ("p50 ms" is two words)
    embedded = dict(level, server=dict(level["server"], worker_cpu_pct=None, postgres_cpu_pct=None))
    assert cost_per_action(embedded)["server_ms"] == 15.0
    one_worker = cost_per_action(dict(embedded, workers=1))  # the embedded default: one process, one GIL
    assert (one_worker["cores"], round(one_worker["ceiling_per_s"])) == (1, 67)
    assert "1 core serves at most 67 actions/s (one worker: its GIL; " in level_text("memory-sqlite", dict(embedded, workers=1), [])
    assert cost_per_action(dict(level, totals=dict(level["totals"], actions_per_s=0.0))) is None


def test_costs_in_reference_loops_compare_runs_on_a_machine_whose_speed_varies():
    """The reference loop took a mean 12.5 ms of CPU during the window: 15 ms of app CPU
    per action is 1.2 loops, 19.5 ms server side 1.56; a level without the probe prints dashes."""
    level = _level(reference_loop_ms={"loop": "sum(range(10**6))", "samples": 240, "mean_ms": 12.5,
                                      "median_ms": 12.1, "p10_ms": 11.9, "p90_ms": 14.0})
    cost = cost_per_action(level)
    assert (round(cost["app_loops"], 2), round(cost["server_loops"], 2)) == (1.2, 1.56)
    assert ("machine speed: the reference loop (sum(range(10**6))) took 12.5 ms of CPU during the window (mean of "
            "240; p10 11.9, median 12.1, p90 14.0); CPU per action in reference loops: app 1.20, server side 1.56") \
        in level_text("redis-postgres", level, [])
    header, row = summary_text({"configs": {"redis-postgres": {"levels": [level]}}}).splitlines()[2:4]
    assert header.split()[-3:] == ["ref", "ms", "app/ref"] and row.split()[-2:] == ["12.5", "1.20"]
    untimed = dict(level, machine={k: v for k, v in level["machine"].items() if k != "reference_loop_ms"})
    assert cost_per_action(untimed)["app_loops"] is None and "machine speed" not in level_text("x", untimed, [])
    assert summary_text({"configs": {"x": {"levels": [untimed]}}}).splitlines()[3].split()[-2:] == ["-", "-"]


def test_the_speed_probe_times_the_reference_loop_in_cpu_while_it_runs():
    """The probe process samples until told to stop, then reports the loop's CPU time: of the
    order ``python -m timeit "sum(range(10**6))"`` prints."""
    import time
    from load_stack import SpeedProbe
    probe = SpeedProbe()
    probe.start()
    time.sleep(1.2)
    got = probe.result()
    assert got["loop"] == "sum(range(10**6))" and got["samples"] >= 3
    assert 0.5 < got["p10_ms"] <= got["median_ms"] <= got["p90_ms"] < 1000 and got["p10_ms"] <= got["mean_ms"]
    import speed_probe
    got = speed_probe.summary([1.0, 1.0, 4.0])
    assert (got["mean_ms"], got["median_ms"]) == (2.0, 1.0)
