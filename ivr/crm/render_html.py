"""Self-contained HTML report: inline SVG charts, no JavaScript, no CDN."""
from __future__ import annotations

from html import escape
from typing import Any

from .render import GROUP_COLUMNS, _fmt, report_rows

W, H, PAD = 720, 220, 36


def _bars(items: list[tuple[str, float]], title: str, line: list[float | None] | None = None) -> str:
    """Bar chart of items; optional line (0..1, drawn against a right-hand 0-100% axis)."""
    if not items:
        return f"<p>{escape(title)}: no data</p>"
    top = max(v for _, v in items) or 1
    bw = (W - 2 * PAD) / len(items)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H + 40}" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
             f'<line x1="{PAD}" y1="{H}" x2="{W - PAD}" y2="{H}" stroke="#888"/>',
             f'<text x="{PAD}" y="14" font-size="12">{escape(title)} (max {top:g})</text>']
    for i, (label, v) in enumerate(items):
        h = (H - 30) * v / top
        x = PAD + i * bw
        parts.append(f'<rect x="{x + 2:.1f}" y="{H - h:.1f}" width="{max(bw - 4, 1):.1f}" height="{h:.1f}" '
                     f'fill="#4a7bb7"><title>{escape(label)}: {v:g}</title></rect>')
        if len(items) <= 24 or i % max(1, len(items) // 12) == 0:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{H + 14}" font-size="9" text-anchor="middle">'
                         f'{escape(label[-5:])}</text>')
    if line:
        pts = [(PAD + (i + 0.5) * bw, H - (H - 30) * v) for i, v in enumerate(line) if v is not None]
        if pts:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            parts.append(f'<polyline points="{path}" fill="none" stroke="#d9534f" stroke-width="2"/>')
            parts.append(f'<text x="{W - PAD}" y="28" font-size="11" text-anchor="end" fill="#d9534f">'
                         'service level (0-100%)</text>')
    parts.append("</svg>")
    return "".join(parts)


def report_html(report: dict[str, Any]) -> str:
    rows = report_rows(report)
    head = "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in GROUP_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{escape(_fmt(c, r.get(c)))}</td>" for c in GROUP_COLUMNS) + "</tr>"
                   for r in rows)
    hourly = report["hourly"]
    volume = _bars([(h["group"], h["calls"]) for h in hourly], "Calls per hour (UTC)",
                   [h["service_level"] for h in hourly])
    hist = _bars([(f"{b['from']}+" if b["to"] is None else f"{b['from']}-{b['to']}", b["calls"])
                  for b in report["wait_histogram"]], "Wait time (s) of queued calls")
    ae = report["adverse_events"]
    period = report["period"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Hotline report</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}td:first-child{{text-align:left}}</style>
</head><body><h1>Hotline report</h1>
<p>Period: {escape(str(period['since'] or 'start'))} to {escape(str(period['until'] or 'now'))};
service level target {report['settings']['sl_seconds']} s; short abandons under
{report['settings']['short_abandon']} s excluded.</p>
<table><tr>{head}</tr>{body}</table>
<h2>Volume and service level per hour</h2>{volume}
<h2>Wait times</h2>{hist}
<h2>Adverse events</h2><p>{ae['count']} call(s), {ae['answered']} answered; time to agent avg
{escape(_fmt('', ae['time_to_agent_avg']))} s, max {escape(_fmt('', ae['time_to_agent_max']))} s.</p>
</body></html>
"""
