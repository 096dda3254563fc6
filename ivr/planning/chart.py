"""A self-contained HTML page with an inline SVG chart of calls and agents per interval (no
script, no CDN: it opens anywhere and prints)."""
from __future__ import annotations

from html import escape

from .intraday import DayPlan

_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 960, 360, 56, 56, 20, 60


def _ticks(top: float) -> list[float]:
    step = 1.0
    for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        step = s
        if top / s <= 6:
            break
    return [i * step for i in range(int(top // step) + 1)]


def staffing_svg(plan: DayPlan) -> str:
    rows = plan.intervals
    n = max(1, len(rows))
    inner_w, inner_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    top_calls = max([r.calls for r in rows] + [1.0]) * 1.1
    top_agents = max([r.agents for r in rows] + [1]) * 1.1
    slot = inner_w / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" role="img" '
             f'aria-label="calls and agents per interval" font-family="sans-serif" font-size="11">']
    for t in _ticks(top_calls):
        y = _TOP + inner_h - t / top_calls * inner_h
        parts.append(f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#3465a4">{t:g}</text>')
    for t in _ticks(top_agents):
        y = _TOP + inner_h - t / top_agents * inner_h
        parts.append(f'<text x="{_W - _RIGHT + 6}" y="{y + 4:.1f}" fill="#a40000">{t:g}</text>')
    every = max(1, -(-n // 12))            # at most ~12 time labels: they must not overlap
    points = []
    for i, r in enumerate(rows):
        x = _LEFT + i * slot
        h = r.calls / top_calls * inner_h
        parts.append(f'<rect x="{x + 1:.1f}" y="{_TOP + inner_h - h:.1f}" width="{max(1.0, slot - 2):.1f}" '
                     f'height="{h:.1f}" fill="#729fcf"><title>{escape(r.label)}: {r.calls:.1f} calls, '
                     f'{r.agents} agents</title></rect>')
        y = _TOP + inner_h - r.agents / top_agents * inner_h
        points.append(f"{x:.1f},{y:.1f} {x + slot:.1f},{y:.1f}")
        if i % every == 0:
            parts.append(f'<text x="{x + slot / 2:.1f}" y="{_H - _BOTTOM + 16}" text-anchor="middle">'
                         f'{escape(r.label)}</text>')
    parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#a40000" stroke-width="2.5"/>')
    parts.append(f'<text x="{_LEFT}" y="{_H - 18}" fill="#3465a4">■ calls per interval (left axis)</text>'
                 f'<text x="{_LEFT + 260}" y="{_H - 18}" fill="#a40000">— agents on the phones '
                 f'(right axis)</text></svg>')
    return "".join(parts)


def staffing_html(plan: DayPlan, title: str) -> str:
    s = plan.summary()
    facts = "".join(f"<tr><th>{escape(k.replace('_', ' '))}</th><td>{escape(str(v))}</td></tr>"
                    for k, v in s.items())
    table = "".join(
        f"<tr><td>{escape(r.label)}</td><td>{r.calls:.1f}</td><td>{r.agents}</td>"
        f"<td>{r.service_level:.1%}</td><td>{r.occupancy:.1%}</td></tr>" for r in plan.intervals)
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse}"
            "td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}</style></head><body>"
            f"<h1>{escape(title)}</h1>{staffing_svg(plan)}<h2>Summary</h2><table>{facts}</table>"
            "<h2>Per interval</h2><table><tr><th>interval</th><th>calls</th><th>agents</th>"
            f"<th>service level</th><th>occupancy</th></tr>{table}</table></body></html>\n")
