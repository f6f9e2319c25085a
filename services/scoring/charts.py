"""SVG charts of an evaluation, as pure functions of its figures (issue #5 §3): the ranking as horizontal
bars stacked by group (002: the 4 first-level groups; any number in general) and a zone's groups against
the cohort median as a radar. Our own SVG 1.1: no renderer, no system binary, no dependency; text is
XML-escaped, Chinese labels are text in a CJK font stack, and every mark carries a <title> tooltip."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

FONT_FAMILY = "Noto Sans CJK SC, Source Han Sans SC, Microsoft YaHei, PingFang SC, sans-serif"
# Okabe–Ito: told apart with every common colour-vision deficiency; cycled beyond eight groups
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
WIDTH = 960
BAR, GAP = 18, 8
TEXT = {"zh": {"points": "分值", "median": "同类园区中位数", "none": "无参与排名的园区",
               "share": "占该组满分的比例"},
        "en": {"points": "points", "median": "cohort median", "none": "no ranked zone",
               "share": "share of the group's maximum"}}
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # no escape makes these valid XML 1.0


def _text(value: Any) -> str:
    """Character data: escaped, characters XML cannot carry dropped."""
    return escape(_NOT_XML.sub("", str(value)))


def _attr(value: Any) -> str:
    return escape(_NOT_XML.sub("", str(value)), {'"': "&quot;"})


def _num(x: float) -> str:
    """A coordinate: two decimals, no trailing zeros, no -0."""
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def text_width(text: str, size: float) -> float:
    """Estimated advance of `text`: CJK and full-width characters one em, others ~0.6 em."""
    return sum(size if ord(ch) >= 0x2E80 else 0.6 * size for ch in text)


def nice_step(span: float, ticks: int = 6) -> float:
    """A round tick step (1, 2, 2.5 or 5 × 10^k) giving about `ticks` intervals over `span`."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _tick_label(x: float, step: float) -> str:
    """A tick's value with as many decimals as the step has (2.5 → 1, 25 → 0, 0.05 → 2)."""
    exponent = Decimal(repr(round(step, 12))).normalize().as_tuple().exponent
    decimals = max(0, -exponent) if isinstance(exponent, int) else 0
    return f"{x:.{decimals}f}"


def _float(value: Any) -> float:
    """Points as a float for geometry (decimal strings, Decimal, numbers); anything else counts 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return 0.0
    try:
        x = float(value)
    except ValueError:
        return 0.0
    return x if math.isfinite(x) else 0.0


def _name(row: Mapping[str, Any], lang: str) -> str:
    name = row.get("name")
    if isinstance(name, Mapping):
        return str(name.get(lang) or name.get("zh") or row.get("code") or "")
    return str(name or row.get("code") or "")


def _svg(width: float, height: float, title: str, body: list[str], desc: str = "") -> str:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{_num(width)}" height="{_num(height)}" '
            f'viewBox="0 0 {_num(width)} {_num(height)}" font-family="{_attr(FONT_FAMILY)}" font-size="12" '
            f'role="img" aria-label="{_attr(title)}">')
    parts = [head, f"<title>{_text(title)}</title>"]
    if desc:
        parts.append(f"<desc>{_text(desc)}</desc>")
    parts.append('<rect class="background" x="0" y="0" width="100%" height="100%" fill="#ffffff"/>')
    return "\n".join([*parts, *body, "</svg>"]) + "\n"


def _legend(entries: Sequence[tuple[str, str]], x0: float, y0: float, right: float) -> tuple[list[str], float]:
    """Swatch + label per entry, wrapped into lines within [x0, right]; the elements and the height used."""
    out, x, y = ['<g class="legend">'], x0, y0
    for label, colour in entries:
        w = 14 + 6 + text_width(label, 12) + 18
        if x + w > right and x > x0:
            x, y = x0, y + 20
        out.append(f'<rect class="swatch" x="{_num(x)}" y="{_num(y)}" width="14" height="14" fill="{colour}"/>')
        out.append(f'<text class="legend-label" x="{_num(x + 20)}" y="{_num(y + 11.5)}">{_text(label)}</text>')
        x += w
    out.append("</g>")
    return out, y + 20 - y0


def ranking_bars(rows: Sequence[Mapping[str, Any]], groups: Sequence[tuple[str, str] | str], title: str,
                 lang: str = "zh") -> str:
    """The ranking as horizontal bars, best first: one bar per zone (rank and name at the left), stacked
    by group points in the order of `groups` ((code, label) pairs), the total at the bar's end; an axis
    with round ticks, a legend. Negative points (possible under other methods) stack left of zero."""
    words = TEXT.get(lang, TEXT["zh"])
    pairs = [(g, g) if isinstance(g, str) else (str(g[0]), str(g[1])) for g in groups]
    colours = {code: PALETTE[i % len(PALETTE)] for i, (code, _) in enumerate(pairs)}
    labels = [f"{row.get('rank') if row.get('rank') is not None else '–'}. {_name(row, lang)}" for row in rows]
    values = [[_float((row.get("groups") or {}).get(code)) for code, _ in pairs] for row in rows]
    totals = [str(row["total"]) if row.get("total") is not None else f"{sum(v):.2f}"
              for row, v in zip(rows, values, strict=True)]
    left = 16 + max([text_width(label, 12) for label in labels] or [0]) + 10
    right = WIDTH - 16 - max([text_width(t, 11) for t in totals] or [0]) - 8
    legend, legend_height = _legend([(label, colours[code]) for code, label in pairs], left, 44, WIDTH - 16)
    top = 44 + legend_height + 12
    high = max([sum(x for x in v if x > 0) for v in values] or [0]) or 1.0
    low = min([sum(x for x in v if x < 0) for v in values] or [0])
    step = nice_step(high - low)
    domain = (math.floor(low / step) * step, math.ceil(high / step) * step)
    scale = (right - left) / (domain[1] - domain[0])
    zero = left - domain[0] * scale
    plot_height = max(len(rows), 1) * (BAR + GAP) + GAP
    height = top + plot_height + 46
    body = [f'<text class="title" x="{_num(WIDTH / 2)}" y="26" font-size="18" font-weight="bold" '
            f'text-anchor="middle">{_text(title)}</text>', *legend, '<g class="axis">']
    for k in range(round(domain[0] / step), round(domain[1] / step) + 1):
        tick = k * step
        x = zero + tick * scale
        body.append(f'<line class="grid" x1="{_num(x)}" y1="{_num(top)}" x2="{_num(x)}" y2="{_num(top + plot_height)}" '
                    f'stroke="#dddddd" stroke-width="1"/>')
        body.append(f'<text class="tick" x="{_num(x)}" y="{_num(top + plot_height + 16)}" font-size="11" '
                    f'text-anchor="middle">{_text(_tick_label(tick, step))}</text>')
    body.append(f'<line class="axis-line" x1="{_num(left)}" y1="{_num(top + plot_height)}" x2="{_num(right)}" '
                 f'y2="{_num(top + plot_height)}" stroke="#333333" stroke-width="1"/>')
    body.append(f'<text class="axis-title" x="{_num((left + right) / 2)}" y="{_num(top + plot_height + 36)}" '
                f'text-anchor="middle">{_text(words["points"])}</text></g>')
    if not rows:
        body.append(f'<text class="empty" x="{_num((left + right) / 2)}" y="{_num(top + GAP + BAR)}" '
                    f'text-anchor="middle">{_text(words["none"])}</text>')
    body.append('<g class="bars">')
    for i, (row, label, vals, total) in enumerate(zip(rows, labels, values, totals, strict=True)):
        y = top + GAP + i * (BAR + GAP)
        code = str(row.get("code") or "")
        body.append(f'<g class="bar" data-zone="{_attr(code)}" data-rank="{_attr(row.get("rank"))}">')
        body.append(f'<text class="zone-label" x="{_num(left - 10)}" y="{_num(y + BAR - 4.5)}" '
                    f'text-anchor="end">{_text(label)}</text>')
        pos, neg = zero, zero
        for (group, group_label), x in zip(pairs, vals, strict=True):
            w = abs(x) * scale
            if x >= 0:
                start, pos = pos, pos + w
            else:
                neg -= w
                start = neg
            raw = (row.get("groups") or {}).get(group)
            body.append(f'<rect class="segment" data-zone="{_attr(code)}" data-group="{_attr(group)}" '
                        f'data-points="{_attr(raw if raw is not None else 0)}" x="{_num(start)}" y="{_num(y)}" '
                        f'width="{_num(w)}" height="{BAR}" fill="{colours[group]}"><title>'
                        f'{_text(f"{label} · {group_label}: {raw if raw is not None else 0}")}</title></rect>')
        body.append(f'<text class="total" x="{_num(pos + 6)}" y="{_num(y + BAR - 4.5)}" font-size="11">'
                    f'{_text(total)}</text></g>')
    body.append("</g>")
    return _svg(WIDTH, height, title, body, f"{len(rows)} zones × {len(pairs)} groups")


def zone_radar(zone_name: str, groups: Sequence[str], zone_values: Sequence[float], cohort_median: Sequence[float],
               maxima: Sequence[float], lang: str = "zh") -> str:
    """A zone's groups as shares of each group's maximum (axis i clockwise from the top), against the
    cohort median; rings at 25/50/75/100 %. A share is clamped to 0..1; a group without a positive
    maximum counts 0."""
    words = TEXT.get(lang, TEXT["zh"])
    n = len(groups)
    if not len(zone_values) == len(cohort_median) == len(maxima) == n:
        raise ValueError("groups, zone_values, cohort_median and maxima must have the same length")
    label_room = max([text_width(g, 12) for g in groups] or [0]) + 12
    radius = 170.0
    cx = 24 + label_room + radius
    width = 2 * cx
    legend, legend_height = _legend([(zone_name, PALETTE[0]), (words["median"], PALETTE[1])], 24, 40, width - 24)
    cy = 40 + legend_height + 32 + radius  # room above the top axis's label
    height = cy + radius + 40

    def share(value: float, top: float) -> float:
        v, m = _float(value), _float(top)
        return min(max(v / m, 0.0), 1.0) if m > 0 else 0.0

    def point(i: int, r: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * i / max(n, 1)
        return cx + r * math.cos(angle), cy + r * math.sin(angle)

    def points(shares: Sequence[float]) -> str:
        return " ".join(f"{_num(x)},{_num(y)}" for x, y in (point(i, s * radius) for i, s in enumerate(shares)))

    mine = [share(v, m) for v, m in zip(zone_values, maxima, strict=True)]
    median = [share(v, m) for v, m in zip(cohort_median, maxima, strict=True)]
    body = [f'<text class="title" x="{_num(width / 2)}" y="26" font-size="18" font-weight="bold" '
            f'text-anchor="middle">{_text(zone_name)}</text>', *legend, '<g class="grid">']
    for ring in (0.25, 0.5, 0.75, 1.0):
        body.append(f'<polygon class="ring" data-share="{ring}" points="{points([ring] * n)}" fill="none" '
                    f'stroke="#cccccc" stroke-width="1"/>')
        x, y = point(0, ring * radius)
        body.append(f'<text class="ring-label" x="{_num(x + 4)}" y="{_num(y - 3)}" font-size="10" fill="#777777">'
                    f'{int(ring * 100)}%</text>')
    for i, label in enumerate(groups):
        x, y = point(i, radius)
        body.append(f'<line class="spoke" x1="{_num(cx)}" y1="{_num(cy)}" x2="{_num(x)}" y2="{_num(y)}" '
                    f'stroke="#cccccc" stroke-width="1"/>')
        lx, ly = point(i, radius + 12)
        anchor = "middle" if abs(lx - cx) < 1 else "start" if lx > cx else "end"
        dy = -4 if ly < cy - radius / 2 else 12 if ly > cy + radius / 2 else 4
        body.append(f'<text class="group-label" data-group-index="{i}" x="{_num(lx)}" y="{_num(ly + dy)}" '
                    f'text-anchor="{anchor}">{_text(label)}</text>')
    body.append("</g>")
    for cls, shares, raw, colour, extra in (
            ("median", median, cohort_median, PALETTE[1], 'fill="none" stroke-dasharray="6 4"'),
            ("zone", mine, zone_values, PALETTE[0], f'fill="{PALETTE[0]}" fill-opacity="0.25"')):
        body.append(f'<g class="series" data-series="{cls}">')
        body.append(f'<polygon class="{cls}" points="{points(shares)}" stroke="{colour}" stroke-width="2" {extra}/>')
        for i, (s, value, top) in enumerate(zip(shares, raw, maxima, strict=True)):
            x, y = point(i, s * radius)
            tip = f"{groups[i]}: {_num(_float(value))} / {_num(_float(top))} ({words['share']} {s:.0%})"
            body.append(f'<circle class="vertex" cx="{_num(x)}" cy="{_num(y)}" r="3" fill="{colour}">'
                        f'<title>{_text(tip)}</title></circle>')
        body.append("</g>")
    return _svg(width, height, zone_name, body, f"{words['share']}; {words['median']}")
