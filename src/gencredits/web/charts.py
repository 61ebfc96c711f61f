"""Stacked bar charts as geometry, drawn by the server into inline SVG (no script, no CDN).

:func:`bar_chart` takes buckets (a label and credits per series) and places every bar,
segment, axis tick and legend entry in a fixed ``viewBox``; the template only draws what it is
given. The largest series keep their own colour and the rest are summed as "other", so a
legend stays readable whatever the number of models or projects. Every segment carries a
``title`` (the tooltip and what a screen reader says), and the chart a title and description.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gencredits.domain.credits import format_credits

# Colour-blind-friendly, distinct on white; the last is for "other".
PALETTE = ("#4f46e5", "#0d9488", "#d97706", "#db2777", "#2563eb", "#65a30d")
OTHER_COLOUR = "#94a3b8"
OTHER = "other"
MAX_SERIES = len(PALETTE)

WIDTH = 720
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 16, 40


@dataclass(frozen=True, slots=True)
class Segment:
    series: str
    credits: int
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    show_label: bool
    total_credits: int
    centre_x: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class LegendItem:
    series: str
    colour: str
    credits: int


@dataclass(frozen=True, slots=True)
class BarChart:
    chart_id: str
    title: str
    description: str
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    legend: tuple[LegendItem, ...]
    total_credits: int

    @property
    def empty(self) -> bool:
        return self.total_credits == 0


def nice_step(maximum: int, steps: int = 4) -> int:
    """A round tick step (1, 2 or 5 times a power of ten) giving about ``steps`` ticks."""
    raw = max(1, -(-maximum // steps))
    magnitude = 1
    while magnitude * 10 <= raw:
        magnitude *= 10
    for multiple in (1, 2, 5, 10):
        if multiple * magnitude >= raw:
            return multiple * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def top_series(
    buckets: Sequence[tuple[str, Mapping[str, int]]], *, limit: int | None = MAX_SERIES
) -> tuple[str, ...]:
    """Series by total, largest first (ties by name); beyond ``limit`` they become 'other'."""
    totals: dict[str, int] = {}
    for _, parts in buckets:
        for series, credits in parts.items():
            totals[series] = totals.get(series, 0) + credits
    ranked = sorted((s for s in totals if totals[s] > 0), key=lambda s: (-totals[s], s))
    if limit is None or len(ranked) <= limit:
        return tuple(ranked)
    return (*ranked[: limit - 1], OTHER)


def bar_chart(
    chart_id: str,
    title: str,
    buckets: Sequence[tuple[str, Mapping[str, int]]],
    *,
    label_every: int = 1,
    series_order: Sequence[str] | None = None,
) -> BarChart:
    """Place ``buckets`` (label, credits per series) as stacked bars.

    ``series_order`` (from :func:`top_series` over several charts) gives charts shown side by
    side the same colour for the same series; a series outside it is counted as "other".
    """
    series, colours = _series_and_colours(buckets, series_order)
    kept = set(series) - {OTHER}
    folded = [(label, _fold(parts, kept)) for label, parts in buckets]
    totals = [sum(parts.values()) for _, parts in folded]
    highest = max(totals, default=0)
    step = nice_step(highest)
    top_value = max(step, -(-highest // step) * step)
    plot_left, plot_right = float(LEFT), float(WIDTH - RIGHT)
    plot_top, plot_bottom = float(TOP), float(HEIGHT - BOTTOM)
    plot_height = plot_bottom - plot_top
    slot = (plot_right - plot_left) / max(1, len(folded))
    bar_width = max(2.0, min(slot * 0.7, 48.0))
    bars: list[Bar] = []
    for index, (label, parts) in enumerate(folded):
        centre = plot_left + slot * (index + 0.5)
        segments = _segments(label, parts, series, colours, centre, bar_width,
                             (plot_bottom, plot_height, top_value))
        bars.append(Bar(label, index % max(1, label_every) == 0, totals[index], round(centre, 2),
                        segments))
    ticks = tuple(
        Tick(round(plot_bottom - plot_height * value / top_value, 2), format_credits(value))
        for value in range(0, top_value + 1, step)
    )
    totals_by_series = {name: sum(parts.get(name, 0) for _, parts in folded) for name in series}
    legend = tuple(LegendItem(name, colours[name], totals_by_series[name]) for name in series)
    return BarChart(
        chart_id=chart_id,
        title=title,
        description=_describe(folded, totals),
        width=WIDTH,
        height=HEIGHT,
        plot_left=plot_left,
        plot_right=plot_right,
        plot_top=plot_top,
        plot_bottom=plot_bottom,
        bars=tuple(bars),
        ticks=ticks,
        legend=legend,
        total_credits=sum(totals),
    )


def _series_and_colours(
    buckets: Sequence[tuple[str, Mapping[str, int]]], series_order: Sequence[str] | None
) -> tuple[tuple[str, ...], dict[str, str]]:
    """The series shown, in order ("other" last when a series present is folded into it), and
    the colour of each."""
    ranked = tuple(series_order) if series_order is not None else top_series(buckets)
    named = [name for name in ranked if name != OTHER]
    colours = {name: PALETTE[i] for i, name in enumerate(named)}
    colours[OTHER] = OTHER_COLOUR
    present = set(top_series(buckets, limit=None))
    kept = set(named) & present
    series = tuple(name for name in named if name in kept)
    if present - kept:
        series += (OTHER,)
    return series, colours


def _segments(
    label: str,
    parts: Mapping[str, int],
    series: Sequence[str],
    colours: Mapping[str, str],
    centre: float,
    bar_width: float,
    plot: tuple[float, float, int],
) -> tuple[Segment, ...]:
    """One bar's segments, stacked upwards from the plot's bottom (``plot``: its bottom, its
    height, and the value at its top)."""
    bottom, plot_height, top_value = plot
    y = bottom
    segments: list[Segment] = []
    for name in series:
        credits = parts.get(name, 0)
        if credits <= 0:
            continue
        height = plot_height * credits / top_value
        y -= height
        segments.append(
            Segment(name, credits, round(centre - bar_width / 2, 2), round(y, 2),
                    round(bar_width, 2), round(height, 2), colours[name],
                    f"{label}: {name}, {format_credits(credits)} credits")
        )
    return tuple(segments)


def _fold(parts: Mapping[str, int], kept: set[str]) -> dict[str, int]:
    folded: dict[str, int] = {}
    for name, credits in parts.items():
        key = name if name in kept else OTHER
        folded[key] = folded.get(key, 0) + credits
    return folded


def _describe(folded: Sequence[tuple[str, Mapping[str, int]]], totals: Sequence[int]) -> str:
    total = sum(totals)
    if not total:
        return "No credits used in this period."
    best = max(range(len(totals)), key=lambda i: (totals[i], -i))
    return (
        f"{format_credits(total)} credits in all across {len(totals)} bars; the highest is "
        f"{folded[best][0]} with {format_credits(totals[best])}."
    )
