"""Layout of the overview tables, as a style sheet scoped to the page that uses them.

* The page uses the full width of the window (the shell's container is narrower,
  made for reading), so at 1280 px ids and dates stay on one line.
* Ids, numbers, statuses, amounts and dates never wrap; subjects and names may.
* Below 640 px (a phone) each row becomes a card: one labelled line per field, no
  header row and no horizontal scrolling (checked at 390 px).
"""

from __future__ import annotations

import reflex as rx

PAGE_CLASS = "overview-page"
TABLE_CLASS = "overview-table"
NOWRAP = "nowrap"

CSS = f"""
.rt-ContainerInner:has(.{PAGE_CLASS}) {{ max-width: none !important; }}
.{TABLE_CLASS} {{ overflow-x: auto; }}
.{TABLE_CLASS} table {{ width: 100%; border-collapse: collapse; font-size: var(--font-size-2); }}
.{TABLE_CLASS} th {{ text-align: left; font-weight: 600; padding: 0.45rem 0.6rem; border-bottom: 1px solid var(--gray-7); }}
.{TABLE_CLASS} td {{ padding: 0.45rem 0.6rem; border-bottom: 1px solid var(--gray-4); vertical-align: top; }}
.{TABLE_CLASS} tbody tr:hover {{ background: var(--gray-2); }}
.{TABLE_CLASS} .{NOWRAP} {{ white-space: nowrap; }}
@media (max-width: 639.98px) {{
  .{TABLE_CLASS} thead {{ display: none; }}
  .{TABLE_CLASS} table, .{TABLE_CLASS} tbody, .{TABLE_CLASS} tr.overview-row, .{TABLE_CLASS} td {{
    display: block !important; width: 100% !important; box-sizing: border-box;
  }}
  .{TABLE_CLASS} tr.overview-row {{
    border: 1px solid var(--gray-6); border-radius: var(--radius-3); padding: 0.5rem 0.75rem; margin-bottom: 0.6rem;
  }}
  .{TABLE_CLASS} td {{ border: none; padding: 0.1rem 0 !important; overflow-wrap: anywhere; }}
  .{TABLE_CLASS} td.{NOWRAP} {{ white-space: normal; }}
  .{TABLE_CLASS} td::before {{
    content: attr(data-label); display: inline-block; min-width: 6.5rem; color: var(--gray-11); font-size: 0.8em;
  }}
}}
"""


def overview_css() -> rx.Component:
    return rx.el.style(CSS)
