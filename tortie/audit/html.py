"""The audit report as one self-contained HTML file: inline CSS and SVG charts (would-be
denials over time, top policies, top sources) and the top groups as tables. No script,
no font, no request to anywhere: it opens offline and prints as it shows."""

from __future__ import annotations

from html import escape

from ..logs import plural
from .report import MINUTE, Dimension, Finding, Report, Section, describe_flow, iso

MAX_BARS = 60
_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}h3{margin-bottom:.3em}
table{border-collapse:collapse;width:100%;margin-bottom:1em}
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eee;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}td.t{white-space:nowrap}
.summary{font-size:1.1em}.none{color:#777}
svg text{font:12px system-ui,sans-serif;fill:#222}
"""


def render(report: Report, title: str = "tortie audit report") -> str:
    """The whole page."""
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{escape(title)}</h1>"]
    window = report.window
    span = (f"from {iso(window.since) if window.since is not None else 'the first record'} "
            f"to {iso(window.until) if window.until is not None else 'the last'}")
    parts.append(f"<p class='summary' id='read'>{report.read:,} flows read, {span}"
                 + (f"; {report.outside:,} outside the window" if report.outside else "") + ".</p>")
    for finding, section in report.sections.items():
        parts.append(_section(finding, section))
    parts.append("</body></html>\n")
    return "".join(parts)


def _section(finding: Finding, section: Section) -> str:
    anchor = finding.value.replace(" ", "-")
    total = section.total
    head = f"<h2 id='{anchor}'>What enforcing would {'block' if finding is Finding.WOULD_BLOCK else 'newly allow'}</h2>"
    if not total.flows:
        return head + f"<p class='none' id='{anchor}-total'>Nothing.</p>"
    out = [head, f"<p class='summary' id='{anchor}-total'>{_flows(total.flows)}, "
                 f"{total.packets:,} {plural(total.packets, 'packet')}, "
                 f"first seen {iso(total.first)}, last seen {iso(total.last)}.</p>"]
    out.append(f"<h3>Flows over time</h3>{_timeline(section, anchor)}")
    out.append(f"<h3>Top policies</h3>{_bars(section, Dimension.POLICY, anchor + '-policies')}")
    out.append(f"<h3>Top sources</h3>{_bars(section, Dimension.SOURCE, anchor + '-sources')}")
    for dimension in Dimension:
        out.append(f"<h3>By {escape(dimension.value)}</h3>{_table(section, dimension)}")
    return "".join(out)


def _timeline(section: Section, anchor: str) -> str:
    """Flows per time bucket as a bar chart; buckets are whole minutes, at most MAX_BARS."""
    first, last = min(section.minutes), max(section.minutes)
    width = -(-(last - first + 1) // MAX_BARS)  # minutes per bar
    counts: dict[int, int] = {}
    for minute, n in section.minutes.items():
        bar = (minute - first) // width
        counts[bar] = counts.get(bar, 0) + n
    bars = (last - first) // width + 1
    peak = max(counts.values())
    w, h, left, bottom = 900, 180, 50, 30
    step = (w - left) / bars
    rects = "".join(
        f"<rect x='{left + i * step + 1:.1f}' y='{10 + (h - 10 - bottom) * (1 - counts.get(i, 0) / peak):.1f}' "
        f"width='{max(step - 2, 1):.1f}' height='{(h - 10 - bottom) * counts.get(i, 0) / peak:.1f}' fill='#c0392b'>"
        f"<title>{iso((first + i * width) * MINUTE)}: {_flows(counts.get(i, 0))}</title></rect>"
        for i in range(bars))
    labels = (f"<text x='{left}' y='{h - 10}'>{iso(first * MINUTE)}</text>"
              f"<text x='{w}' y='{h - 10}' text-anchor='end'>{iso((last + 1) * MINUTE)}</text>"
              f"<text x='{left - 6}' y='20' text-anchor='end'>{peak:,}</text>"
              f"<text x='{left - 6}' y='{h - bottom}' text-anchor='end'>0</text>")
    return (f"<svg id='{anchor}-timeline' width='{w}' height='{h}' viewBox='0 0 {w} {h}' role='img' "
            f"aria-label='flows over time, {width} minute(s) per bar'>{rects}{labels}</svg>")


def _bars(section: Section, dimension: Dimension, anchor: str, limit: int = 10) -> str:
    """The top groups of `dimension` as horizontal bars, labelled with the key and count."""
    ranked = section.top(dimension, limit)
    peak = ranked[0][1].flows
    w, row, label = 900, 22, 420
    scale = (w - label - 80) / peak
    rows = "".join(
        f"<g><text x='0' y='{i * row + 15}'>{escape(_short(key))}</text>"
        f"<rect x='{label}' y='{i * row + 3}' width='{group.flows * scale:.1f}' height='{row - 6}' "
        f"fill='#2c7fb8'><title>{escape(key)}: {_flows(group.flows)}</title></rect>"
        f"<text x='{label + group.flows * scale + 6:.1f}' y='{i * row + 15}'>{group.flows:,}</text></g>"
        for i, (key, group) in enumerate(ranked))
    return f"<svg id='{anchor}' width='{w}' height='{len(ranked) * row}' role='img'>{rows}</svg>"


def _flows(n: int) -> str:
    return f"{n:,} {plural(n, 'flow')}"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _table(section: Section, dimension: Dimension, limit: int = 20) -> str:
    ranked = section.top(dimension, limit)
    rows = "".join(
        f"<tr><td>{escape(key)}</td><td class='n'>{g.flows:,}</td><td class='n'>{g.packets:,}</td>"
        f"<td class='t'>{iso(g.first)}</td><td class='t'>{iso(g.last)}</td>"
        f"<td>{escape(describe_flow(g.example)) if g.example is not None else ''}</td></tr>"
        for key, g in ranked)
    more = len(section.groups[dimension]) - len(ranked)
    tail = f"<p class='none'>… and {more:,} more.</p>" if more > 0 else ""
    return (f"<table><thead><tr><th>{escape(dimension.value.capitalize())}</th><th>Flows</th><th>Packets</th>"
            f"<th>First seen</th><th>Last seen</th><th>Example</th></tr></thead><tbody>{rows}</tbody></table>{tail}")
