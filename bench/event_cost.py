"""What one action costs the app on an idle server: wall time and app CPU per step, one tab at a time.

Starts the same stack as bench/load.py (a fresh database, the sandbox, demo-size data, the
app with --config's state manager), signs one customer and one agent in, then repeats each
step --repeat times, one after the other, and prints per step: wall ms (p50) and the app's CPU
ms per step (its whole process tree, over all repeats). The steps go from the framework alone
to whole page loads, so the difference between them is what each part costs:

* ``barrier``: ``set_is_hydrated(True)``, a leaf state event with no I/O: Reflex's own cost
  of one event (socket.io in, state lookup, handler, delta out);
* ``navigate <page>``: a client-side navigation (``on_load_internal`` -> the page's load ->
  ``set_is_hydrated``), as in bench/load.py;
* ``navigate refund form``: the customer's refund form, which asks the order system (the
  sandbox, over HTTP) for the order's delivery facts first;
* ``navigate workspace``: the agents' workspace with a case open (its queue read, the
  case and its sidebar read; the agent's mark moves in a write the page does not wait for);
* ``workspace: pick a case``: a queue row clicked in the agents' workspace, turn about
  between a case with a refund and one without: the case and its sidebar are read, the
  agent's marks move beside it (that write's CPU is counted: it runs in the app process);
* ``refund form: ...``: the customer's refund form on the case, a stepper (+ and - in
  turn) or a reason clicked: the choice priced by the server from what the form read;
* ``reload case page``: a full page load (the document, a new websocket, hydrate_and_load);
* ``refund page + approve``: an agent opens a requested refund's page and approves it (the
  next of the seeded requests each time; the approval's own cost is this less ``navigate
  refund page``; with Redis state the refund sender runs in its own process, as in
  bench/load.py, and its CPU is not counted; without, it runs in the app and is);
* ``post reply``: the case page's reply form submitted (one event and the barrier):
  a write, its change published, the page read again. It runs last: each repeat adds a
  message, so its figure is for a conversation growing from a few to --repeat messages;
* ``open a case``, ``request refund``: the customer sends the "open a case" form (about
  their first order) or the refund form (one unit of an item left on the next of their
  cases, and a reason): the submission with its busy flag, the service's write and its
  published change, the redirect and the navigation to the new page. Opening and filling in
  the form before each repeat is not counted (see ``navigate``, ``refund form: ...``);
  a refund request also asks the order system (the sandbox) over HTTP. Each request takes
  a unit for good: when the customer has none left, the step stops (about 120 repeats);
* ``sign out and in again``: the customer's two native form posts (each empties the tab's
  server-side state; the sign-in hashes the password) and the two full page loads they
  lead to.

At the end it prints the machine's speed during the steps (bench/speed_probe.py, the mean
CPU time of a reference loop): to compare two runs, divide their app CPU by it.

    .venv/bin/python bench/event_cost.py --config memory-sqlite --repeat 300
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import ROUTES, H, S, LockfileGuard, check_names, url_for  # noqa: E402
from load_stack import CONFIGS, ROOT, SpeedProbe, Stack, TreeSampler, app_env_arg, process_tree  # noqa: E402
from load_wire import Tab, load_protocol  # noqa: E402


REPLY = "Any news on this?"
WARM_UP = 5  # repeats of each step before the measured ones (caches, compiled queries)


async def measure(stack: Stack, name: str, step, repeat: int, prepare=None) -> dict:
    """Wall time per repeat and the app's CPU over the repeats. ``prepare`` (if any) runs
    before each repeat, untimed: its wall time and the app CPU it takes are left out (CPU
    still running when the step returns counts to the step). It returns False when the step
    cannot be repeated any more: fewer repeats are measured."""
    pids = process_tree(stack.app.pid)
    app = TreeSampler(lambda: pids)
    walls, cpu = [], 0.0
    for n in range(WARM_UP + repeat):
        if prepare and await prepare() is False:
            break
        if prepare or n == WARM_UP:
            app.start()
        t = time.perf_counter()
        await step()
        if n >= WARM_UP:
            walls.append((time.perf_counter() - t) * 1000)
        if prepare and n >= WARM_UP:
            app.sample()
            cpu += app.result()["cpu_pct"] / 100 * (app.t1 - app.t0)  # seconds of app CPU in this repeat
    if not walls:
        raise SystemExit(f"{name}: nothing left to measure after the warm-up")
    if not prepare:
        app.sample()
        cpu = app.result()["cpu_pct"] / 100 * (app.t1 - app.t0)  # seconds of app CPU over the repeats
    return {"step": name, "p50_ms": statistics.median(walls), "mean_ms": statistics.fmean(walls),
            "cpu_ms": 1000 * cpu / len(walls), "repeats": len(walls)}


async def run(stack: Stack, proto, repeat: int, only: str) -> list[dict]:
    customer, agent = [await Tab.signed_in(proto, "127.0.0.1", stack.app_port, email, stack.seed["password"])
                       for email in (stack.seed["customers"][0], stack.seed["agents"][0])]
    await customer.navigate(url_for("my_cases"))
    case_ids = [row["id"] for row in customer.var(S["cases"], "rows")]
    case_id = case_ids[0]
    await customer.navigate(url_for("orders"))
    order_id = customer.var(S["orders"], "orders")[0]["order_id"]
    await customer.navigate(url_for("case", case_id=case_id))  # where the reply step acts
    refund_id = stack.seed["requested_refunds"][0]
    await agent.navigate(url_for("refund", refund_id=refund_id))
    picks = itertools.cycle([str(agent.var(S["refund"], "refund")["case_id"]), str(case_id)])

    async def pick_in_workspace() -> None:
        if agent.url != url_for("workspace"):
            await agent.navigate(url_for("workspace"))
        await agent.call((H["select_case"], {"value": next(picks)}))

    async def open_refund_form() -> str:
        """The customer's refund form for the case, opened once; the id of its first line."""
        if customer.url != url_for("refund_form", case_id=case_id):
            await customer.navigate(url_for("refund_form", case_id=case_id))
        return customer.var(S["refund_form"], "form")["lines"][0]["line_id"]

    steppers = itertools.cycle(["refund_increment", "refund_decrement"])
    reasons = itertools.cycle(["damaged", "wrong_item"])

    async def step_in_refund_form() -> None:
        line = await open_refund_form()
        await customer.call((H[next(steppers)], {"line_id": line}))

    async def choose_refund_reason() -> None:
        await open_refund_form()
        await customer.call((H["refund_reason"], {"value": next(reasons)}))

    to_approve = iter(stack.seed["requested_refunds"][1:])  # the first stays for "navigate refund page"
    approvable = len(stack.seed["requested_refunds"]) - 1 - WARM_UP  # each approval takes a new request

    async def approve_a_refund() -> None:
        await agent.navigate(url_for("refund", refund_id=next(to_approve)))
        await agent.call((H["approve"], {}))

    async def post_reply() -> None:
        if customer.url != url_for("case", case_id=case_id):
            await customer.navigate(url_for("case", case_id=case_id))
        await customer.call((H["send_reply"], {"form": {"body": REPLY}}))

    async def case_form() -> None:
        """The customer's "open a case" form about their first order, opened (the step fills it in and sends it)."""
        await customer.navigate(f"{url_for('new_case')}?order={order_id}")

    async def open_a_case() -> None:
        form = {"category": "damaged_item", "priority": "normal", "subject": "Event cost case",
                "description": "Opened by bench/event_cost.py: the parcel arrived damaged."}
        if not (await customer.submit((H["open_case"], {"form": form})) or "").startswith("/cases/"):
            raise SystemExit("open a case: no redirect to the new case")

    refund_cases = itertools.cycle(case_ids)

    async def refund_form_chosen() -> bool:
        """The customer's refund form on the next of their cases with an item left to refund,
        one unit of it and a reason chosen (the step sends it); False when none is left."""
        for _ in case_ids:
            await customer.navigate(url_for("refund_form", case_id=next(refund_cases)))
            lines = (customer.var(S["refund_form"], "form") or {}).get("lines") or []
            if line := next((ln["line_id"] for ln in lines if ln["refundable_now"] > 0 and ln["eligible"]), None):
                await customer.call((H["refund_increment"], {"line_id": line}), (H["refund_reason"], {"value": "damaged"}))
                return True
        return False

    async def request_a_refund() -> None:
        if not (await customer.submit((H["refund_submit"], {"form": {"note": ""}})) or "").startswith("/refunds/"):
            raise SystemExit("request a refund: no redirect to the refund's page")

    async def sign_out_and_in() -> None:
        """The customer signs out and in again: two native form posts, each emptying the
        tab's server-side state, and the two full page loads they lead to."""
        await customer.post_form("/api/auth/logout", {})
        await customer.full_load("/login")
        await customer.full_load(await customer.sign_in(stack.seed["customers"][0], stack.seed["password"]))

    steps = [
        ("barrier (framework only)", lambda: customer.call()),
        ("navigate my cases", lambda: customer.navigate(url_for("my_cases"))),
        ("navigate case page", lambda: customer.navigate(url_for("case", case_id=case_id))),
        ("navigate agent queue", lambda: agent.navigate(url_for("queue"))),
        ("navigate refund page", lambda: agent.navigate(url_for("refund", refund_id=refund_id))),
        ("navigate workspace", lambda: agent.navigate(f"{url_for('workspace')}?case={case_id}")),
        ("navigate refund form", lambda: customer.navigate(url_for("refund_form", case_id=case_id))),
        ("workspace: pick a case", pick_in_workspace),
        ("refund form: add/remove an item", step_in_refund_form),
        ("refund form: choose a reason", choose_refund_reason),
        ("reload case page (full load)", lambda: customer.full_load(url_for("case", case_id=case_id))),
        ("refund page + approve", approve_a_refund),
        ("post reply (case page)", post_reply),
        ("open a case (send + case page)", open_a_case, case_form),
        ("request refund (send + refund page)", request_a_refund, refund_form_chosen),
        ("sign out and in again", sign_out_and_in),
    ]
    out = []
    for name, step, *prepare in steps:
        if only and only not in name:
            continue
        times = min(repeat, approvable) if step is approve_a_refund else repeat
        out.append(await measure(stack, name, step, times, *prepare))
        r = out[-1]
        print(f"  {name:28} wall p50 {r['p50_ms']:6.1f} ms  mean {r['mean_ms']:6.1f} ms  app CPU {r['cpu_ms']:6.1f} ms/step"
              + (f"  ({r['repeats']} repeats: the requests seeded)" if times < repeat else "")
              + (f"  ({r['repeats']} repeats: the units the customer had left to refund)" if r["repeats"] < times else ""),
              flush=True)
        if step is post_reply and ((customer.var(S["case"], "case") or {}).get("messages") or [{}])[-1].get("body") != REPLY:
            print("  (!) the reply step did not add its message: its figure is of a refused reply", flush=True)
    await customer.close()
    await agent.close()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="memory-sqlite", choices=list(CONFIGS), help="as bench/load.py (default memory-sqlite)")
    p.add_argument("--repeat", type=int, default=300, help="repeats per step (default 300)")
    p.add_argument("--workers", type=int, default=1, help="backend workers of the redis configurations (default 1)")
    p.add_argument("--only", default="", help="run only the steps whose name contains this (e.g. 'case page')")
    p.add_argument("--customers", type=int, default=20,
                   help="customers seeded, each with cases and refunds (default 20; bench/load.py seeds 200)")
    p.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", 4400)))
    p.add_argument("--redis-app", default=os.environ.get("BENCH_REDIS_APP", "redis://127.0.0.1:6379/6"))
    p.add_argument("--redis-state", default=os.environ.get("BENCH_REDIS_STATE", "redis://127.0.0.1:6379/7"))
    p.add_argument("--app-env", action="append", type=app_env_arg, default=[], metavar="NAME=VALUE",
                   help="a setting for the app process, as bench/load.py (e.g. REFLEX_OPLOCK_ENABLED=false)")
    args = p.parse_args()
    stack = Stack(CONFIGS[args.config], app_port=args.port, sandbox_port=args.port + 1, workers=args.workers,
                  app_redis_url=args.redis_app, state_redis_url=args.redis_state, customers=args.customers, agents=2,
                  worker_process=CONFIGS[args.config].state == "redis",  # the refund sender as bench/load.py runs it
                  app_env=dict(args.app_env))
    guard = LockfileGuard()
    try:
        stack.start(print)
        check_names(ROOT / ".web")
        proto = load_protocol(ROOT / ".web", list(ROUTES.values()))
        print(f"event cost: {args.config}, {args.workers} worker(s), {args.repeat} repeats per step, one tab at a time; "
              f"app pid {stack.app.pid}" + "".join(f", {k}={v}" for k, v in args.app_env), flush=True)
        speed = SpeedProbe()
        speed.start()
        asyncio.run(run(stack, proto, args.repeat, args.only))
        taken = speed.result()
        print(f"  machine speed: the reference loop ({taken['loop']}) took {taken['mean_ms']:.1f} ms "
              f"of CPU during the steps (mean of {taken['samples']} timings)", flush=True)
    finally:
        stack.stop()
        guard.restore()
    return 0


if __name__ == "__main__":
    # `kill`/`timeout` ask like Ctrl-C does: the finally block stops the app and sandbox it started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
