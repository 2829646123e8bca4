"""Charts and the map of the statistics page, drawn on the server by matplotlib as accessible SVG: each carries a
title and a description for screen readers (the page shows the numbers as a table beside each chart)."""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Sequence
from functools import cache
from html import escape
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("svg")  # no display, no GUI toolkit
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

BLUE, LIGHT, INK, WARN = "#0b4f8a", "#cfe0f1", "#1a1a1a", "#a4262c"
KREISE = Path(__file__).resolve().parents[2] / "shared" / "data" / "bavaria_kreise.geojson"

plt.rcParams.update({
    "svg.fonttype": "none",  # text stays text: selectable, readable, small
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # shipped with matplotlib: the same on every machine
    "font.size": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#8a96a3",
    "axes.labelcolor": INK,
    "xtick.color": INK,
    "ytick.color": INK,
})


def _svg(fig: Any, key: str, title: str, description: str) -> str:
    """The figure as an inline SVG element with role, title and description, and ids unique on the page."""
    out = io.StringIO()
    fig.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    svg = out.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r' d="([^"]*)"', _short_path, svg)
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{key}-{m.group(1)}"', svg)
    svg = re.sub(r'url\(#([^)]+)\)', lambda m: f"url(#{key}-{m.group(1)})", svg)
    svg = re.sub(r'xlink:href="#([^"]+)"', lambda m: f'xlink:href="#{key}-{m.group(1)}"', svg)
    head_end = svg.index(">") + 1
    head = svg[:head_end].replace(
        "<svg", f'<svg role="img" aria-labelledby="{key}-title {key}-desc" focusable="false"', 1
    )
    return (f'{head}<title id="{key}-title">{escape(title)}</title><desc id="{key}-desc">{escape(description)}</desc>'
            f"{svg[head_end:]}")


def _short_path(match: re.Match[str]) -> str:
    """Path coordinates to a tenth of a point, on one line: a third of matplotlib's size, the same picture."""
    numbers = re.sub(r"-?\d+\.\d+", lambda n: f"{float(n.group(0)):.1f}".rstrip("0").rstrip("."), match.group(1))
    return f' d="{" ".join(numbers.split())}"'


def bars(key: str, title: str, labels: Sequence[str], values: Sequence[int], ylabel: str) -> str:
    fig, ax = plt.subplots(figsize=(7.2, 3.2))
    ax.bar(labels, values, color=BLUE)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", labelrotation=25)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    for x, v in enumerate(values):
        ax.annotate(str(v), (x, v), ha="center", va="bottom", fontsize=10, color=INK)
    description = "; ".join(f"{label}: {v}" for label, v in zip(labels, values, strict=True))
    return _svg(fig, key, title, description)


def line(key: str, title: str, months: Sequence[str], values: Sequence[int], ylabel: str) -> str:
    fig, ax = plt.subplots(figsize=(7.2, 3.0))
    ax.plot(range(len(months)), values, color=BLUE, linewidth=2, marker="o" if len(months) < 30 else None)
    step = max(1, len(months) // 8)
    ax.set_xticks(range(0, len(months), step), [months[i] for i in range(0, len(months), step)])
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    described = ", ".join(f"{m}: {v}" for m, v in list(zip(months, values, strict=True))[-12:])
    return _svg(fig, key, title, f"Zuletzt {described}" if described else "Noch keine Auszeichnungen.")


def histogram(key: str, title: str, edges: Sequence[int], counts: Sequence[int], threshold: int) -> str:
    fig, ax = plt.subplots(figsize=(7.2, 3.2))
    widths = [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]
    colors = [BLUE if a >= threshold else LIGHT for a in edges[:-1]]
    ax.bar(edges[:-1], counts, width=widths, align="edge", color=colors, edgecolor="#ffffff")
    ax.axvline(threshold, color=WARN, linewidth=2)
    ax.annotate(f"Schwelle {threshold}", (threshold, max(counts or [1])), xytext=(4, -2), textcoords="offset points",
                color=WARN, va="top")
    ax.set_xlabel("gezählte Online-Verfahren")
    ax.set_ylabel("Behörden")
    description = "; ".join(f"{a} bis {b - 1}: {n}" for a, b, n in zip(edges[:-1], edges[1:], counts, strict=True))
    return _svg(fig, key, title, description)


@cache
def kreise() -> list[dict[str, Any]]:
    return json.loads(KREISE.read_text(encoding="utf-8"))["features"]


def choropleth(key: str, title: str, shares: dict[str, tuple[str, int, int]]) -> str:
    """The 96 Kreise coloured by the share of their authorities that hold the title; `shares`: ags -> (name,
    holders, authorities). Each Kreis carries its numbers as a tooltip (an SVG title)."""
    fig, ax = plt.subplots(figsize=(6.4, 6.4))
    scale = math.cos(math.radians(49.0))  # longitude degrees are shorter at Bavaria's latitude
    cmap = matplotlib.colormaps["Blues"]
    for feature in kreise():
        ags = feature["properties"]["ags"]
        name, holders, total = shares.get(ags, (feature["properties"]["name"], 0, 0))
        share = holders / total if total else 0.0
        rings = feature["geometry"]["coordinates"]
        polygons = rings if feature["geometry"]["type"] == "MultiPolygon" else [rings]
        for polygon in polygons:
            step = max(1, len(polygon[0]) // 60)  # at this size ~60 points per outline are plenty
            outer = [(lon * scale, lat) for lon, lat in polygon[0][::step]]
            patch = Polygon(outer, closed=True, facecolor=cmap(0.12 + 0.88 * min(1.0, share * 4)),
                            edgecolor="#ffffff", linewidth=0.6)
            patch.set_gid(f"kreis-{ags}")
            ax.add_patch(patch)
    ax.autoscale_view()
    ax.set_aspect("equal")
    ax.axis("off")
    svg = _svg(fig, key, title, "; ".join(f"{n}: {h} von {t}" for _, (n, h, t) in sorted(shares.items())))
    for ags, (name, holders, total) in shares.items():  # a tooltip per Kreis
        tip = f"{name}: {holders} von {total} Behörden ausgezeichnet"
        svg = svg.replace(f'<g id="{key}-kreis-{ags}">', f'<g id="{key}-kreis-{ags}"><title>{escape(tip)}</title>', 1)
    return svg
