"""The evaluation's SVG charts: valid XML, one bar segment per zone × group with widths proportional to
the points and stacked without gaps, totals and labels present and escaped, the radar's vertices at the
share of each group's maximum. Geometry is checked against values computed here from the inputs."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

import pytest

from services.scoring.charts import FONT_FAMILY, nice_step, ranking_bars, zone_radar

SVG = "{http://www.w3.org/2000/svg}"
GROUPS = [("1", "创新能力"), ("2", "产业发展"), ("3", "开放合作"), ("4", "绿色发展")]
ROWS: list[dict[str, Any]] = [
    {"rank": 1, "code": "S158023", "name": {"zh": "赤峰高新技术产业开发区", "en": "Chifeng HTZ"}, "total": "71.5",
     "groups": {"1": "30.25", "2": "21", "3": "8.25", "4": "12"}},
    {"rank": 2, "code": "NM-6", "name": {"zh": "通辽高新区"}, "total": "64",
     "groups": {"1": "20", "2": "24.5", "3": "7.5", "4": "12"}},
    {"rank": 2, "code": "NM-3", "name": {"zh": "乌海高新区"}, "total": "64",
     "groups": {"1": "25", "2": "19", "3": "0", "4": "20"}},
]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def by_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}{tag}") if e.get("class") == cls]


def texts(root: ET.Element, cls: str) -> list[str]:
    return ["".join(e.itertext()) for e in by_class(root, "text", cls)]


def test_one_segment_per_zone_and_group_proportional_and_stacked() -> None:
    root = parse(ranking_bars(ROWS, GROUPS, "内蒙古自治区高新区评价 2024", "zh"))
    segments = by_class(root, "rect", "segment")
    assert sorted((s.get("data-zone"), s.get("data-group")) for s in segments) == sorted(
        (row["code"], g) for row in ROWS for g, _ in GROUPS)
    points = {(row["code"], g): float(row["groups"][g]) for row in ROWS for g, _ in GROUPS}
    ratios = [float(s.get("width", "nan")) / points[s.get("data-zone"), s.get("data-group")] for s in segments
              if points[s.get("data-zone"), s.get("data-group")] > 0]
    assert max(ratios) - min(ratios) < 0.01 * min(ratios)  # one scale, coordinates rounded to 0.01 px
    assert all(float(s.get("width", "nan")) == 0 for s in segments if points[s.get("data-zone"),
                                                                             s.get("data-group")] == 0)
    starts = set()
    for row in ROWS:
        mine = [s for s in segments if s.get("data-zone") == row["code"]]
        assert [s.get("data-group") for s in mine] == [g for g, _ in GROUPS]  # stacked in the groups' order
        starts.add(float(mine[0].get("x", "nan")))
        for a, b in itertools.pairwise(mine):
            assert abs(float(a.get("x", "nan")) + float(a.get("width", "nan")) - float(b.get("x", "nan"))) < 0.02
        assert len({s.get("fill") for s in mine}) == len(GROUPS)
    assert len(starts) == 1  # every bar starts at zero
    ys = [float(by_class(root, "rect", "segment")[4 * i].get("y", "nan")) for i in range(len(ROWS))]
    assert ys == sorted(ys) and len(set(ys)) == len(ROWS)  # best first, one row each


def test_labels_totals_legend_axis_and_font() -> None:
    svg = ranking_bars(ROWS, GROUPS, "内蒙古自治区高新区评价 2024", "zh")
    root = parse(svg)
    assert texts(root, "zone-label") == ["1. 赤峰高新技术产业开发区", "2. 通辽高新区", "2. 乌海高新区"]
    assert texts(root, "total") == ["71.5", "64", "64"]
    assert texts(root, "legend-label") == [label for _, label in GROUPS]
    assert texts(root, "title") == ["内蒙古自治区高新区评价 2024"] and texts(root, "axis-title") == ["分值"]
    assert root.get("font-family") == FONT_FAMILY == ("Noto Sans CJK SC, Source Han Sans SC, Microsoft YaHei, "
                                                      "PingFang SC, sans-serif")
    ticks = [float(t) for t in texts(root, "tick")]
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert ticks[0] == 0 and ticks[-1] >= 71.5 and len(steps) == 1 and 3 <= len(ticks) <= 12
    # the total is written just right of its bar's end, inside the picture
    segments = by_class(root, "rect", "segment")
    width = float(root.get("width", "nan"))
    for i, total in enumerate(by_class(root, "text", "total")):
        end = max(float(s.get("x", "nan")) + float(s.get("width", "nan")) for s in segments[4 * i:4 * i + 4])
        assert 0 < float(total.get("x", "nan")) - end <= 10
        assert float(total.get("x", "nan")) + 11 * 0.6 * len(total.text or "") <= width


def test_any_number_of_groups_english_names_and_computed_totals() -> None:
    groups = [(f"g{i}", f"Group {i}") for i in range(7)]
    rows = [{"rank": r, "code": f"U{r}", "name": {"zh": f"单元{r}", "en": f"Unit {r}"},
             "groups": {f"g{i}": Decimal(r + i) for i in range(7)}} for r in (1, 2)]
    root = parse(ranking_bars(rows, groups, "Seven groups", "en"))
    assert len(by_class(root, "rect", "segment")) == 14
    assert len({s.get("fill") for s in by_class(root, "rect", "swatch")}) == 7
    assert texts(root, "zone-label") == ["1. Unit 1", "2. Unit 2"] and texts(root, "axis-title") == ["points"]
    assert texts(root, "total") == [f"{sum(1 + i for i in range(7)):.2f}", f"{sum(2 + i for i in range(7)):.2f}"]


def test_negative_points_stack_left_of_zero() -> None:
    rows = [{"rank": 1, "code": "A", "name": "A", "total": "1", "groups": {"x": "3", "y": "-2"}}]
    root = parse(ranking_bars(rows, [("x", "X"), ("y", "Y")], "t"))
    x, y = by_class(root, "rect", "segment")
    assert float(y.get("x", "nan")) + float(y.get("width", "nan")) == pytest.approx(float(x.get("x", "nan")), abs=0.02)
    assert float(y.get("width", "nan")) / 2 == pytest.approx(float(x.get("width", "nan")) / 3, rel=0.01)
    assert "-2" in texts(root, "tick")[0] or float(texts(root, "tick")[0]) < 0


def test_text_is_escaped_and_characters_xml_cannot_hold_are_dropped() -> None:
    nasty = 'A&B <script>alert("x")</script> \'q\' \x01园区'
    rows = [{"rank": 1, "code": 'N"1', "name": {"zh": nasty}, "total": "5", "groups": {"<g>": "5"}}]
    svg = ranking_bars(rows, [("<g>", "组&<>")], "标题 <&>")
    root = parse(svg)
    assert "<script>" not in svg
    assert texts(root, "zone-label") == ["1. " + nasty.replace("\x01", "")]
    assert texts(root, "legend-label") == ["组&<>"] and texts(root, "title") == ["标题 <&>"]
    assert by_class(root, "rect", "segment")[0].get("data-zone") == 'N"1'
    radar = parse(zone_radar(nasty, ["a<b", "c&d", "e>f"], [1, 2, 3], [1, 1, 1], [3, 3, 3]))
    assert texts(radar, "group-label") == ["a<b", "c&d", "e>f"] and texts(radar, "title") == [nasty.replace("\x01", "")]


def test_no_ranked_zone_is_still_a_picture() -> None:
    root = parse(ranking_bars([], GROUPS, "空"))
    assert by_class(root, "rect", "segment") == [] and texts(root, "empty") == ["无参与排名的园区"]


def _vertices(points: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in points.split())]


@pytest.mark.parametrize("n", [3, 4, 6])
def test_radar_vertices_are_shares_of_the_group_maximum(n: int) -> None:
    labels = [f"第{i + 1}组" for i in range(n)]
    maxima = [30.0, 25.0, 20.0, 25.0, 10.0, 0.0][:n]
    mine = [22.5, 30.0, -1.0, 12.5, 10.0, 5.0][:n]  # above the maximum: 1; negative: 0; no maximum: 0
    median = [15.0, 12.5, 10.0, 5.0, 2.5, 1.0][:n]
    root = parse(zone_radar("赤峰高新区", labels, mine, median, maxima))
    outer = next(e for e in by_class(root, "polygon", "ring") if e.get("data-share") == "1.0")
    ring = _vertices(outer.get("points", ""))
    cx, cy = sum(x for x, _ in ring) / n, sum(y for _, y in ring) / n
    radius = math.dist((cx, cy), ring[0])
    assert ring[0][0] == pytest.approx(cx, abs=0.02) and ring[0][1] < cy  # the first axis points up
    for cls, values in (("zone", mine), ("median", median)):
        (polygon,) = by_class(root, "polygon", cls)
        vertices = _vertices(polygon.get("points", ""))
        assert len(vertices) == n
        for i, ((x, y), v, m) in enumerate(zip(vertices, values, maxima, strict=True)):
            share = min(max(v / m, 0), 1) if m > 0 else 0
            assert math.dist((cx, cy), (x, y)) == pytest.approx(share * radius, abs=0.05), (cls, i)
            if share:
                angle = math.atan2(y - cy, x - cx)
                expected = -math.pi / 2 + 2 * math.pi * i / n
                assert math.cos(angle - expected) == pytest.approx(1, abs=1e-3), (cls, i)
    assert texts(root, "group-label") == labels
    assert "赤峰高新区" in texts(root, "legend-label") and "同类园区中位数" in texts(root, "legend-label")
    assert len(by_class(root, "circle", "vertex")) == 2 * n


def test_radar_lengths_must_agree() -> None:
    with pytest.raises(ValueError, match="same length"):
        zone_radar("z", ["a", "b", "c"], [1, 2], [1, 2, 3], [3, 3, 3])


@pytest.mark.parametrize(("span", "step"), [(71.5, 20), (100, 20), (7, 2), (0.9, 0.2), (1, 0.2), (30, 5),
                                            (13, 2.5)])
def test_nice_steps(span: float, step: float) -> None:
    assert nice_step(span) == pytest.approx(step)
