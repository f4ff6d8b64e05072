"""A profit-over-time chart as inline SVG (pure: points in, markup data out; no JS library)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT, PAD = 560, 160, 24


@dataclass(frozen=True, slots=True)
class Chart:
    path: str  # the cumulative net profit line
    bars: list[dict[str, float]]  # one per bucket: x, y, width, height, positive
    zero_y: float
    min_label: str
    max_label: str
    first: str
    last: str
    total: float
    width: int = WIDTH
    height: int = HEIGHT


def profit_chart(points: list[dict[str, Any]]) -> Chart | None:
    """Bars of net profit per bucket and a line of the running total, scaled to one box."""
    if not points:
        return None
    values = [float(p["profit_net_usd"]) for p in points]
    running, cumulative = 0.0, []
    for v in values:
        running += v
        cumulative.append(running)
    low = min(0.0, *values, *cumulative)
    high = max(0.0, *values, *cumulative)
    span = (high - low) or 1.0
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    step = inner_w / len(values)

    def y(v: float) -> float:
        return round(PAD + (high - v) / span * inner_h, 2)

    zero = y(0.0)
    bars = [
        {
            "x": round(PAD + i * step + step * 0.1, 2),
            "y": min(y(v), zero),
            "width": round(max(step * 0.8, 0.5), 2),
            "height": round(abs(y(v) - zero), 2),
            "positive": v >= 0,
        }
        for i, v in enumerate(values)
    ]
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{round(PAD + (i + 0.5) * step, 2)},{y(v)}" for i, v in enumerate(cumulative)
    )
    return Chart(
        path=path,
        bars=bars,
        zero_y=zero,
        min_label=f"{low:,.2f}",
        max_label=f"{high:,.2f}",
        first=points[0]["start"][:16].replace("T", " "),
        last=points[-1]["start"][:16].replace("T", " "),
        total=round(running, 2),
    )
