"""Figures of the load benchmark: per-action latency samples, percentiles, the printed tables."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of unsorted ``values`` (p in 0..100); NaN when empty.

    The smallest value with at least p% of the values at or below it: p50 of
    [1, 2, 3, 4] is 2, p99 of 100 values is the 99th smallest."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class ActionStats:
    """Latencies (ms) of one action's successful and failed runs, and why they failed."""

    ok_ms: list[float] = field(default_factory=list)
    error_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)

    def add(self, ms: float, error: str | None) -> None:
        if error is None:
            self.ok_ms.append(ms)
        else:
            self.error_ms.append(ms)
            self.errors[error] += 1

    @property
    def count(self) -> int:
        return len(self.ok_ms) + len(self.error_ms)

    def summary(self) -> dict:
        """Percentiles over every run of the action, failed ones included (a timeout is slow too)."""
        every = self.ok_ms + self.error_ms
        return {
            "count": self.count,
            "errors": len(self.error_ms),
            "p50_ms": _r(percentile(every, 50)),
            "p95_ms": _r(percentile(every, 95)),
            "p99_ms": _r(percentile(every, 99)),
            "max_ms": _r(max(every)) if every else None,
            "mean_ms": _r(sum(every) / len(every)) if every else None,
            "error_kinds": dict(self.errors.most_common()),
        }


def _r(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 1)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def action_table(actions: dict[str, dict], order: list[str]) -> list[str]:
    names = [a for a in order if a in actions] + sorted(a for a in actions if a not in order)
    width = max([len(n) for n in names] + [6])
    lines = [f"  {'action':<{width}} {'count':>6} {'err':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"]
    for name in names:
        s = actions[name]
        lines.append(f"  {name:<{width}} {s['count']:>6} {s['errors']:>5} {_ms(s['p50_ms']):>8} {_ms(s['p95_ms']):>8} "
                     f"{_ms(s['p99_ms']):>8} {_ms(s['max_ms']):>8}")
    return lines


def cost_per_action(level: dict) -> dict | None:
    """CPU per action in the steady window: the app's, and the server side's (the app, the
    refund sender and PostgreSQL; not the sandbox, which stands in for the shop's order system
    and gateway, nor the load generator), and the most actions/s the machine's cores would
    serve at that cost with nothing else on them (one worker: about one core, its GIL). A
    capacity figure that does not depend on how much the sessions ask for, which is at most
    ``sessions`` / mean think time."""
    rate, srv = level["totals"]["actions_per_s"], level["server"]
    if not rate:
        return None
    server_pct = srv["app_cpu_pct"] + (srv.get("worker_cpu_pct") or 0) + (srv.get("postgres_cpu_pct") or 0)
    cores = (level.get("machine") or {}).get("cores")
    if cores and level.get("workers") == 1:
        cores = 1
    server_ms, app_ms = server_pct * 10 / rate, srv["app_cpu_pct"] * 10 / rate
    loop = reference_ms(level)
    return {"app_ms": app_ms, "server_ms": server_ms,
            "cores": cores, "ceiling_per_s": cores * 1000 / server_ms if cores and server_ms else None,
            # the same costs in units of the machine's speed at the time (load_stack.SpeedProbe)
            "app_loops": app_ms / loop if loop else None, "server_loops": server_ms / loop if loop else None}


def reference_ms(level: dict) -> float | None:
    """The reference loop's mean CPU time during this level's window (load_stack.SpeedProbe), if taken:
    the mean, as the app's CPU per action is a mean over the window (the speed is often bimodal)."""
    taken = (level.get("machine") or {}).get("reference_loop_ms") or {}
    return taken.get("mean_ms")


def level_text(config: str, level: dict, order: list[str]) -> str:
    """The block printed after each level."""
    t = level["totals"]
    srv, lg = level["server"], level["load_generator"]
    out = [f"== {config} · {level['sessions']} sessions ({level['customers']} customers, {level['agents']} agents) · "
           f"{level['duration_s']:.0f} s · {level['workers']} worker(s) =="]
    w = level.get("warmup")
    if w:
        parts = []
        for name in ("open app", "sign in"):
            if (a := w["actions"].get(name)):
                parts.append(f"{name} p50 {_ms(a['p50_ms'])} / p95 {_ms(a['p95_ms'])} / max {_ms(a['max_ms'])} ms"
                             f" ({a['errors']} errors)")
        out.append(f"  warm-up ({w['seconds']:.0f} s, starts spread over {w['ramp_s']:.0f} s): " + "; ".join(parts))
        kinds = Counter()
        for name, a in w["actions"].items():
            for kind, n in a["error_kinds"].items():
                kinds[f"{name}: {kind}"] += n
        if kinds:
            out.append("    warm-up errors: " + "; ".join(f"{n}x {k}" for k, n in kinds.most_common(4)))
    out.append("  steady window:")
    out += action_table(level["actions"], order)
    most = f" of at most {t['offered_max_per_s']:.0f}/s these sessions ask for" if t.get("offered_max_per_s") else ""
    out.append(f"  total {t['actions']} actions, {t['actions_per_s']:.1f}/s{most}, {t['errors']} errors ({t['error_pct']:.1f}%); "
               f"all-action p50 {_ms(t['p50_ms'])} / p95 {_ms(t['p95_ms'])} / p99 {_ms(t['p99_ms'])} ms")
    gw = ""
    if "webhooks" in t:
        gw = (f"gateway: {t['gateway_refund_creates']} refund creations, {t['webhooks']} webhooks to the app"
              f" ({t['webhooks_failed']} failed); ")
    out.append(f"  background: {gw}websocket messages in {t['msgs_in_per_s']:.0f}/s, "
               f"out {t['msgs_out_per_s']:.0f}/s")
    pg = f"; postgres CPU {srv['postgres_cpu_pct']:.0f}%" if srv.get("postgres_cpu_pct") is not None else ""
    sender = (f"; refund sender (own process) CPU {srv['worker_cpu_pct']:.0f}%" if srv.get("worker_cpu_pct") is not None
              else "")
    out.append(f"  server: app CPU {srv['app_cpu_pct']:.0f}% (sum over the reflex/granian tree; 100% = one core), "
               f"peak RSS {srv['app_peak_rss_mb']:.0f} MB; sandbox CPU {srv['sandbox_cpu_pct']:.0f}%{pg}{sender}; "
               f"load generator CPU {lg['cpu_pct']:.0f}%")
    if (cost := cost_per_action(level)):
        ceiling = (f"; at that cost {cost['cores']} core{'s serve' if cost['cores'] > 1 else ' serves'} at most "
                   f"{cost['ceiling_per_s']:.0f} actions/s ({'one worker: its GIL; ' if level.get('workers') == 1 else ''}"
                   "the load generator elsewhere)" if cost["ceiling_per_s"] else "")
        out.append(f"  CPU per action: app {cost['app_ms']:.1f} ms, server side {cost['server_ms']:.1f} ms "
                   f"(app{' + refund sender' if srv.get('worker_cpu_pct') is not None else ''}"
                   f"{' + PostgreSQL' if srv.get('postgres_cpu_pct') is not None else ''}){ceiling}")
    if cost and cost["app_loops"] is not None:
        taken = level["machine"]["reference_loop_ms"]
        out.append(f"  machine speed: the reference loop ({taken['loop']}) took {taken['mean_ms']:.1f} ms of CPU during "
                   f"the window (mean of {taken['samples']}; p10 {taken['p10_ms']:.1f}, median {taken['median_ms']:.1f}, "
                   f"p90 {taken['p90_ms']:.1f}); "
                   f"CPU per action in reference loops: app {cost['app_loops']:.2f}, server side {cost['server_loops']:.2f}")
    held = ", ".join(f"{k} {n}" for k, n in sorted(srv.get("held_too_long_by_event", {}).items(), key=lambda kv: -kv[1]))
    if (m := level.get("machine")):
        stolen = f", {m['stolen_cpu_pct']:.0f}% taken by the virtual machine's host" if m.get("stolen_cpu_pct") else ""
        out.append(f"  machine: {m['machine_cpu_pct']:.0f}% busy of {100 * m['cores']}% ({m['others_cpu_pct']:.0f}% by "
                   f"processes outside this benchmark{stolen}), load average {m['loadavg_start']:.1f} -> {m['loadavg_end']:.1f}")
    out.append(f"  server log: {srv['held_too_long']} 'held too long' lock warnings" + (f" ({held})" if held else "")
               + f", {srv['error_lines']} other errors")
    for sample in srv.get("error_samples", []):
        out.append(f"      {sample}")
    kinds = Counter()
    for name, s in level["actions"].items():
        for kind, n in s["error_kinds"].items():
            kinds[f"{name}: {kind}"] += n
    if kinds:
        out.append("  client-side errors: " + "; ".join(f"{n}x {k}" for k, n in kinds.most_common(6)))
    if level.get("notes"):
        out.append("  notes: " + "; ".join(level["notes"]))
    return "\n".join(out)


def _num(value: float | None, places: int) -> str:
    """A figure, or "-" where there is none (the refund sender embedded in the app, a run
    without the speed probe, a level without actions)."""
    return "-" if value is None else f"{value:.{places}f}"


def summary_text(results: dict) -> str:
    """One line per configuration and level."""
    lines = ["", "== summary ==",
             f"  {'config':<15} {'sessions':>8} {'actions/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'failed':>7} "
             f"{'app CPU%':>8} {'sender%':>7} {'ms/act':>6} {'RSS MB':>7} {'held':>5} {'errors':>6} {'box CPU%':>8} {'others%':>7} {'stolen%':>7} {'ref ms':>6} {'app/ref':>7}"]
    for name, cfg in results["configs"].items():
        for lv in cfg.get("levels", []):
            t, s, box = lv["totals"], lv["server"], lv.get("machine", {})
            cost = cost_per_action(lv)
            lines.append(f"  {name:<15} {lv['sessions']:>8} {t['actions_per_s']:>9.1f} {_ms(t['p50_ms']):>7} "
                         f"{_ms(t['p95_ms']):>7} {_ms(t['p99_ms']):>7} {t['errors']:>7} {s['app_cpu_pct']:>8.0f} "
                         f"{_num(s.get('worker_cpu_pct'), 0):>7} {_num(cost['server_ms'] if cost else None, 1):>6} {s['app_peak_rss_mb']:>7.0f} {s['held_too_long']:>5} {s['error_lines']:>6} "
                         f"{box.get('machine_cpu_pct', 0):>8.0f} {box.get('others_cpu_pct', 0):>7.0f} {box.get('stolen_cpu_pct', 0):>7.0f} "
                         f"{_num(reference_ms(lv), 1):>6} {_num(cost['app_loops'] if cost else None, 2):>7}")
        if cfg.get("error"):
            lines.append(f"  {name:<15} failed: {cfg['error']}")
    return "\n".join(lines)
