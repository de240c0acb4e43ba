"""One refund's simulated life for the large generated dataset: its items and amounts,
the agent's decision, the gateway attempts and the refund events, cut at "now"
(a part of devdata/generate.py's Generator, which supplies the random stream,
the clock and the tables)."""

from __future__ import annotations

import random

from support_app.devdata.generate_rows import DAY, HOUR, MIN, US, Clock, money, pick
from support_app.devdata.generate_vocabulary import DECLINES, REASON_BY_CATEGORY, REFUND_NOTES, REJECT, SETTLE, SHOP_FAULT
from support_app.domain.refund_amounts import unit_amounts


class RefundLife:
    """The refund half of Generator (generate.py)."""

    rng: random.Random
    now: int
    clock: Clock
    tables: dict[str, list]
    refund_id: int
    refund_status_counts: dict[str, int]

    def refund(self, cid, customer, agent, t_req, t_agent, delivered, currency, category, lines, shipping_total, paid, ev, msgs) -> int:
        """Append the refund's rows (cut at now); add its case events and messages. Returns its last moment."""
        rng = self.rng
        r = rng.random
        fmt = self.clock.fmt
        now = self.now
        T = self.tables
        self.refund_id += 1
        rid = self.refund_id
        number = f"RF-{rid:06d}"
        reason = pick(r, REASON_BY_CATEGORY[category])

        # items: 1 line, or 2 when the order has them; whole order → shipping comes back too
        chosen = rng.sample(lines, 2) if len(lines) > 1 and r() < 0.3 else [pick(r, lines)]
        whole = len(chosen) == len(lines)
        items_amount = 0
        item_rows = []
        for line_pk, _lid, _name, qty, unit, discount, tax in chosen:
            q = qty if qty == 1 or r() < 0.5 else 1 + int(r() * qty)
            whole = whole and q == qty
            units = unit_amounts(qty, unit, discount, tax)[:q]
            amount = sum(units)
            items_amount += amount
            item_rows.append((rid, line_pk, q, ",".join(map(str, units)), amount))
        shipping_back = shipping_total if (whole or reason in SHOP_FAULT) else 0
        total = items_amount + shipping_back
        assert total <= paid
        summary = f"{number} · {money(total, currency)}"

        # decision path
        x = r()
        rev = [(t_req, customer, "requested", None, "requested", summary)]
        cev = [(t_req, customer, "refund_requested", None, None, f"Requested refund {summary}", 0, True)]
        attempts = []  # (created, outcome time, final status, error)
        decided_by = code = note = settled = gateway_ref = None
        t_dec = max(t_req, t_agent) + int((10 + r() * 2 * 24 * 60) * MIN)
        if x < 0.07:  # the customer withdraws it
            t_c = t_req + int((5 + r() * 600) * MIN)
            rev.append((t_c, customer, "status_changed", "requested", "cancelled", None))
            cev.append((t_c, customer, "refund_cancelled", None, None, f"Cancelled refund {number}", 0, True))
            t_end = t_c
        elif x < 0.19:  # rejected, with a message to the customer
            rc, label, text = pick(r, REJECT)
            decided_by, code, note = agent, rc, text
            rev.append((t_dec, agent, "status_changed", "requested", "rejected", label))
            cev.append((t_dec, agent, "refund_update", None, None, f"Rejected refund {number}: {label}", 0, True))
            msgs.append((t_dec, agent, "public", f"Refund {number} was not approved ({label}). {text}"))
            t_end = t_dec
        elif x < 0.28:  # settled another way
            sc, label = pick(r, SETTLE)
            settled = total if r() < 0.8 else total + total // 10
            decided_by, code, note = agent, sc, "Settled with the customer by phone."
            text = f"{label} of {money(settled, currency)}"
            rev.append((t_dec, agent, "status_changed", "requested", "settled", f"{text}: {note}"))
            cev.append((t_dec, agent, "refund_update", None, None, f"Settled refund {number}: {text}", 0, True))
            t_end = t_dec
        else:  # approved and sent to the gateway
            decided_by = agent
            days = max(0, (t_req - delivered) // DAY)
            when = f"{days} day{'s' if days != 1 else ''} after delivery" if days else "on the day of delivery"
            rev.append((t_dec, agent, "status_changed", "requested", "approved", f"requested {when} — within window"))
            slow = r() < 0.01  # the agent approved but it waited before being sent
            t_send = t_dec + (int((1 + r() * 600) * MIN) if slow else 0)
            rev.append((t_send, agent, "status_changed", "approved", "processing", "sent to the payment gateway"))
            cev.append((t_dec, agent, "refund_update", None, None, f"Approved refund {number}", 0, True))
            t = t_send
            while True:
                lag = int((0.3 + r() * 4) * US) if r() > 0.02 else int((0.2 + r() * 30) * HOUR)  # timeout → reconciled later
                declined = r() < 0.07
                err = pick(r, DECLINES) if declined else None
                attempts.append((t, t + lag, "failed" if declined else "succeeded", err, lag > HOUR))
                t += lag
                if not declined:
                    gateway_ref = f"re_{rng.getrandbits(128):032x}"
                    rev.append((t, None, "status_changed", "processing", "refunded", f"gateway reference {gateway_ref}"))
                    cev.append((t, None, "refund_update", None, None, f"Refund {number} refunded: gateway reference {gateway_ref}", 0, True))
                    break
                rev.append((t, None, "status_changed", "processing", "failed", err[1]))
                cev.append((t, None, "refund_update", None, None, f"Refund {number} failed: {err[1]}", 0, True))
                y = r()
                t_next = t + int((0.5 + r() * 30) * HOUR)
                if y < 0.45 and len(attempts) < 3:  # retried with a new key
                    rev.append((t_next, agent, "status_changed", "failed", "processing", "retried"))
                    t = t_next
                    continue
                if y < 0.75:
                    rev.append((t_next, agent, "abandoned", None, None, "Abandoned; items released"))
                    t = t_next
                elif y < 0.9:
                    settled = total
                    code, note = "manual_transfer", "Refunded by bank transfer instead."
                    text = f"Manual transfer of {money(settled, currency)}"
                    rev.append((t_next, agent, "status_changed", "failed", "settled", f"{text}: {note}"))
                    cev.append((t_next, agent, "refund_update", None, None, f"Settled refund {number}: {text}", 0, True))
                    t = t_next
                break
            t_end = t
        ev.extend(cev)

        # cut at now
        status, version, updated, abandoned, failure = "requested", 1, t_req, 0, None
        re_rows = T["refund_events"]
        for t, actor, kind, src, dst, detail in rev:
            if t > now:
                break
            re_rows.append((rid, actor, kind, src, dst, detail, fmt(t)))
            version += 1
            updated = t
            if kind == "abandoned":
                abandoned = 1
            elif kind == "status_changed":
                status = dst
                if dst == "failed":
                    failure = detail
                elif src == "failed" and dst == "processing":
                    failure = None
        if status in ("requested", "cancelled"):
            decided_by = None
        if status not in ("rejected", "settled"):
            code = note = None
        if status != "settled":
            settled = None
        if status != "refunded":
            gateway_ref = None
        for n, (t_a, t_o, outcome, err, timed_out) in enumerate(attempts, start=1):
            if t_a > now:
                break
            key = f"refund-{rid}-attempt-{n}-{rng.getrandbits(64):016x}"
            if t_o <= now:
                st, upd = outcome, t_o
            else:
                st, upd = ("unknown" if timed_out else "pending"), t_a
            T["refund_attempts"].append((
                rid, key, st, total, currency, gateway_ref if st == "succeeded" and status == "refunded" else None,
                err[0] if st == "failed" else None, err[1] if st == "failed" else None,
                (2 if timed_out else 1) if st != "pending" else 1, 1, fmt(upd), fmt(t_a), fmt(upd),
            ))
        self.refund_status_counts[status] = self.refund_status_counts.get(status, 0) + 1
        T["refund_items"].extend(item_rows)
        T["refund_cases"].append((
            rid, number, cid, cid, customer, status, reason, pick(r, REFUND_NOTES) if r() < 0.3 else None,
            total, shipping_back, currency, f"{rng.getrandbits(128):032x}", abandoned, gateway_ref,
            failure, decided_by, code, note, settled, version, fmt(t_req), fmt(t_req), fmt(updated),
        ))
        return t_end
