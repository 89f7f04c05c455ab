"""Small server-side SVG charts for the console pages: a line chart and a horizontal bar chart.

Built with ElementTree, so the markup is well-formed and every label is escaped. No script and no style
attribute (the console's Content-Security-Policy blocks inline styles): colours and fonts come from classes in
the console stylesheet (static/console.css), sizes from SVG presentation attributes. Each chart has an
accessible <title> and <desc> (named by aria-labelledby), axis titles, and a viewBox so it scales to the page.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    """One line of a line chart: its name, values (one per x label) and the stylesheet class of its colour."""

    name: str
    values: Sequence[int | float]
    css_class: str


def _svg(width: int, height: int, title: str, desc: str, css_class: str) -> ET.Element:
    ident = f"chart{next(_ids)}"
    svg = ET.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "viewBox": f"0 0 {width} {height}",
            "class": f"chart {css_class}",
            "role": "img",
            "aria-labelledby": f"{ident}-title {ident}-desc",
        },
    )
    ET.SubElement(svg, "title", {"id": f"{ident}-title"}).text = title
    ET.SubElement(svg, "desc", {"id": f"{ident}-desc"}).text = desc
    return svg


def _text(parent: ET.Element, x: float, y: float, content: str, css_class: str, **attrs: str) -> None:
    ET.SubElement(parent, "text", {"x": f"{x:.1f}", "y": f"{y:.1f}", "class": css_class, **attrs}).text = content


def _nice_max(value: float) -> int:
    """A round axis maximum at or above `value` (1, 2, 5 × a power of ten)."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def _markup(svg: ET.Element) -> Markup:
    return Markup(ET.tostring(svg, encoding="unicode"))  # noqa: S704 - ElementTree escaped every text and attribute


def line_chart(
    title: str, desc: str, x_labels: Sequence[str], series: Sequence[Series], *, x_title: str, y_title: str
) -> Markup:
    """A line chart of counts (y from 0) over categories such as weeks, with a legend."""
    width, height = 640, 300
    left, right, top, bottom = 52, 16, 36, 64
    plot_w, plot_h = width - left - right, height - top - bottom
    svg = _svg(width, height, title, desc, "line-chart")
    _text(svg, width / 2, 20, title, "chart-title", **{"text-anchor": "middle"})
    # At least 4 on the axis: counts, so the quarter ticks stay whole numbers.
    peak = max(4, _nice_max(max((v for s in series for v in s.values), default=0)))
    for i in range(5):
        value = peak * i / 4
        y = top + plot_h - plot_h * i / 4
        ET.SubElement(svg, "line", {"x1": str(left), "x2": str(left + plot_w), "y1": f"{y:.1f}", "y2": f"{y:.1f}",
                                    "class": "chart-grid"})  # fmt: skip
        _text(svg, left - 6, y + 4, f"{value:g}", "chart-tick", **{"text-anchor": "end"})
    n = max(len(x_labels), 1)
    step = plot_w / max(n - 1, 1)
    for i, label in enumerate(x_labels):
        if n > 6 and i % 2:
            continue  # every other week: labels stay readable at phone width
        _text(svg, left + i * step, top + plot_h + 16, label, "chart-tick", **{"text-anchor": "middle"})
    for s in series:
        points = " ".join(
            f"{left + i * step:.1f},{top + plot_h - plot_h * v / peak:.1f}" for i, v in enumerate(s.values)
        )
        group = ET.SubElement(svg, "g", {"class": s.css_class})
        ET.SubElement(group, "polyline", {"points": points, "fill": "none", "stroke-width": "2.5"})
        for i, v in enumerate(s.values):
            y = top + plot_h - plot_h * v / peak
            dot = ET.SubElement(group, "circle", {"cx": f"{left + i * step:.1f}", "cy": f"{y:.1f}", "r": "3"})
            ET.SubElement(dot, "title").text = f"{s.name} {x_labels[i]}：{v:g}"
    _text(svg, left + plot_w / 2, height - 26, x_title, "chart-axis", **{"text-anchor": "middle"})
    _text(svg, 14, top + plot_h / 2, y_title, "chart-axis",
          **{"text-anchor": "middle", "transform": f"rotate(-90 14 {top + plot_h / 2:.1f})"})  # fmt: skip
    x = left
    for s in series:
        legend = ET.SubElement(svg, "g", {"class": s.css_class})
        ET.SubElement(legend, "rect", {"x": str(x), "y": str(height - 14), "width": "12", "height": "12"})
        _text(legend, x + 16, height - 4, s.name, "chart-legend")
        x += 16 + 14 * len(s.name) + 20
    return _markup(svg)


def bar_chart(
    title: str,
    desc: str,
    bars: Sequence[tuple[str, float | None, str]],
    *,
    x_title: str,
    y_title: str,
) -> Markup:
    """Horizontal bars of rates 0–1, one per (label, rate or None, note such as the sample size)."""
    width, row = 640, 26
    left, right, top, bottom = 150, 110, 36, 44
    height = top + bottom + row * max(len(bars), 1)
    plot_w = width - left - right
    svg = _svg(width, height, title, desc, "bar-chart")
    _text(svg, width / 2, 20, title, "chart-title", **{"text-anchor": "middle"})
    for i in range(5):
        x = left + plot_w * i / 4
        ET.SubElement(svg, "line", {"x1": f"{x:.1f}", "x2": f"{x:.1f}", "y1": str(top),
                                    "y2": str(height - bottom), "class": "chart-grid"})  # fmt: skip
        _text(svg, x, height - bottom + 14, f"{25 * i}%", "chart-tick", **{"text-anchor": "middle"})
    for i, (label, rate, note) in enumerate(bars):
        y = top + i * row
        _text(svg, left - 6, y + row / 2 + 4, label, "chart-tick", **{"text-anchor": "end"})
        if rate is not None:
            bar = ET.SubElement(svg, "rect", {"x": str(left), "y": f"{y + 4:.1f}", "width": f"{plot_w * rate:.1f}",
                                              "height": str(row - 8), "class": "chart-bar"})  # fmt: skip
            ET.SubElement(bar, "title").text = f"{label}：{rate * 100:.0f}%（{note}）"
        shown = f"{rate * 100:.0f}% {note}" if rate is not None else note
        _text(svg, left + plot_w + 6, y + row / 2 + 4, shown, "chart-note")
    _text(svg, left + plot_w / 2, height - 8, x_title, "chart-axis", **{"text-anchor": "middle"})
    middle = top + (height - top - bottom) / 2
    _text(svg, 12, middle, y_title, "chart-axis",
          **{"text-anchor": "middle", "transform": f"rotate(-90 12 {middle:.1f})"})  # fmt: skip
    return _markup(svg)
