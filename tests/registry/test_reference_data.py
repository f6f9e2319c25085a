"""The registry's shipped reference data (services/registry/data): counts, identities, merges, dates.

Self-contained: nothing here reads ../shared at test time; the catalogue codes are copied below."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from services.contracts import ZONE_CODE_RE, DatePrecision, ZoneKind, ZoneLevel, ZoneStatus
from services.registry.data.reference import (
    DATA_DIR,
    ReferenceData,
    current_state,
    load_reference,
    reference_event_id,
)

# catalogue_code of the 81 rows of ../shared/data/zones/zones_catalogue_2018_raw.csv
CATALOGUE_CODES = """
G156020 G153012 G153013 G153014 G151005 G151063 G151064 G155001 G155002 G152058 G152006 G152059
S159001 S159002 S159003 S157004 S157006 S157007 S157008 S159009 S159040 S159041 S159012 S159011
S159042 S159043 S159044 S157038 S158023 S158045 S157024 S159046 S159047 S159026 S159048 S159049
S157050 S157025 S157021 S159051 S159052 S159053 S159022 S157030 S157033 S159054 S157031 S157034
S159055 S157032 S157056 S157013 S159057 S159015 S159017 S159058 S157059 S159018 S159019 S159016
S159060 S157061 S159062 S159036 S159063 S159064 S159037 S159028 S157065 S159066 S157020 S159067
S159068 S157027 S159069 S159070 S159071 S159072 S159073 S158039 S157074
""".split()

# 81 catalogue zones + 7 post-2018 rows of the shared zones.csv − 2 merged into their catalogue zone
# (S159041, S157034) + 1 from seed 000 §3 (通辽高新区) + 5 from seed 001 §3 (Xilingol) = 92
ZONE_COUNT = 81 + 7 - 2 + 1 + 5
# one establishing event per zone + the 2023 accreditations of the two merged zones
EVENT_COUNT = ZONE_COUNT + 2

SEED_DATES = {"000": dt.date(2021, 10, 15), "001": dt.date(2021, 11, 5)}


@pytest.fixture(scope="module")
def data() -> ReferenceData:
    return load_reference()


def by_name(data: ReferenceData, name_zh: str) -> str:
    codes = {e.zone_code for e in data.events if e.name_zh == name_zh}
    assert len(codes) == 1, (name_zh, codes)
    return codes.pop()


def test_counts(data: ReferenceData) -> None:
    assert len(CATALOGUE_CODES) == len(set(CATALOGUE_CODES)) == 81
    assert len(data.leagues) == 12
    assert len(data.counties) == 103
    assert len(data.zones) == ZONE_COUNT == 92
    assert len(data.events) == EVENT_COUNT == 94
    assert {lg.code for lg in data.leagues} == {
        "150100",
        "150200",
        "150300",
        "150400",
        "150500",
        "150600",
        "150700",
        "150800",
        "150900",
        "152200",
        "152500",
        "152900",
    }


def test_every_catalogue_code_is_a_zone_and_the_rest_are_nm(data: ReferenceData) -> None:
    codes = [z.code for z in data.zones]
    assert set(CATALOGUE_CODES) <= set(codes)
    assert all(ZONE_CODE_RE.match(c) for c in codes)
    assert sorted(c for c in codes if c.startswith("NM-")) == sorted(f"NM-{n}" for n in range(1, 12))


def test_catalogue_zones_are_accredited_at_their_catalogue_month(data: ReferenceData) -> None:
    levels = {z: data.events_of(z)[0].level for z in CATALOGUE_CODES}
    assert sum(1 for v in levels.values() if v is ZoneLevel.national) == 12
    assert sum(1 for v in levels.values() if v is ZoneLevel.regional) == 69
    for code in CATALOGUE_CODES:
        first = data.events_of(code)[0]
        assert first.status is ZoneStatus.accredited
        assert first.effective_precision is DatePrecision.month
        assert first.legal_basis is not None
        assert first.legal_basis["document"] == "中国开发区审核公告目录（2018年版）"
        zone = data.zone(code)
        assert (zone.approval_date, zone.approval_date_precision) == (
            first.effective_date,
            DatePrecision.month,
        )
    hohhot = data.events_of("G151005")[0]
    assert (hohhot.effective_date, hohhot.kind, hohhot.actor) == (
        dt.date(2000, 7, 1),
        ZoneKind.etdz,
        "国务院",
    )
    assert data.events_of("S158039")[0].actor == "内蒙古自治区人民政府"


def test_merged_zones_have_two_events(data: ReferenceData) -> None:
    expected = {
        "S159041": (
            ZoneKind.industrial_park,
            "包头装备制造产业园区",
            "内蒙古包头装备制造产业园区",
            dt.date(2011, 4, 1),
        ),
        "S157034": (
            ZoneKind.economic_development,
            "内蒙古鄂托克经济开发区",
            "内蒙古鄂尔多斯鄂托克经济开发区",
            dt.date(2001, 4, 1),
        ),
    }
    for code, (kind, old_name, new_name, approved) in expected.items():
        first, second = data.events_of(code)
        assert (first.kind, first.level, first.status, first.name_zh) == (
            kind,
            ZoneLevel.regional,
            ZoneStatus.accredited,
            old_name,
        )
        assert (first.effective_date, first.effective_precision) == (approved, DatePrecision.month)
        assert (second.kind, second.level, second.status, second.name_zh) == (
            ZoneKind.hitech,
            ZoneLevel.regional,
            ZoneStatus.accredited,
            new_name,
        )
        # the 2023-08-11 news says only "近日": the year is all the source gives
        assert (second.effective_date, second.effective_precision) == (
            dt.date(2023, 1, 1),
            DatePrecision.year,
        )
        assert current_state(code) == {
            "kind": "hitech",
            "level": "regional",
            "status": "accredited",
            "name_zh": new_name,
            "name_en": second.name_en,
        }
    # the merged names exist nowhere else
    assert by_name(data, "内蒙古包头装备制造产业园区") == "S159041"
    assert by_name(data, "内蒙古鄂尔多斯鄂托克经济开发区") == "S157034"


def test_tongliao_high_tech_zone_from_seed_000(data: ReferenceData) -> None:
    code = by_name(data, "通辽高新技术产业开发区")
    assert code.startswith("NM-")
    assert data.zone(code).league_code == "150500"
    state = current_state(code)
    assert (state["kind"], state["level"], state["status"]) == ("hitech", "regional", "accredited")
    (event,) = data.events_of(code)
    assert (event.effective_date, event.effective_precision) == (SEED_DATES["000"], DatePrecision.day)
    assert event.legal_basis == {"document": "内政发〔2021〕13号", "article": "3", "date": "2021-10-15"}
    assert event.note is not None and "establishment date unknown" in event.note


def test_seed_zones_are_matched_or_added(data: ReferenceData) -> None:
    # 000 §3 and 003: named by short forms of catalogue names
    for code, kind, level in [
        ("G152058", ZoneKind.hitech, ZoneLevel.national),
        ("G152006", ZoneKind.hitech, ZoneLevel.national),
        ("G152059", ZoneKind.hitech, ZoneLevel.national),
        ("S158023", ZoneKind.hitech, ZoneLevel.regional),
        ("S158039", ZoneKind.hitech, ZoneLevel.regional),
        ("G151005", ZoneKind.etdz, ZoneLevel.national),
        ("G151063", ZoneKind.etdz, ZoneLevel.national),
        ("G151064", ZoneKind.etdz, ZoneLevel.national),
    ]:
        state = current_state(code)
        assert (state["kind"], state["level"], state["status"]) == (kind, level, "accredited"), code
    assert data.zone("G152058").leading_industries == (
        "乳业",
        "新材料",
        "电子信息",
        "生物医药",
        "装备制造",
        "石油化工",
    )
    assert current_state(by_name(data, "乌海高新技术产业开发区"))["kind"] == "hitech"
    # 001 §3: the five Xilingol economic development zones, accredited, no invented candidate event
    for name in [
        "锡林浩特市经济开发区",
        "锡林郭勒白音华经济开发区",
        "锡林郭勒承接产业开发区",
        "锡林郭勒苏尼特经济开发区",
        "锡林郭勒多伦经济开发区",
    ]:
        code = by_name(data, name)
        assert data.zone(code).league_code == "152500"
        (event,) = data.events_of(code)
        assert (event.kind, event.status) == (ZoneKind.economic_development, ZoneStatus.accredited)
        assert (event.effective_date, event.effective_precision) == (SEED_DATES["001"], DatePrecision.day)
    assert not any(e.status is ZoneStatus.candidate for e in data.events)


def test_unmerged_successions_are_separate_zones_with_a_note(data: ReferenceData) -> None:
    for name, predecessor in [
        ("乌海高新技术产业开发区", "S157038"),
        ("内蒙古兴安盟经济技术开发区", "S157020"),
        ("呼和浩特综合保税区", "G153012"),
    ]:
        code = by_name(data, name)
        assert code.startswith("NM-")
        (event,) = data.events_of(code)
        assert event.note is not None and predecessor in event.note
        assert current_state(predecessor)["status"] == "accredited"
    bonded = data.events_of(by_name(data, "呼和浩特综合保税区"))[0]
    assert bonded.effective_date == dt.date(2025, 9, 9)
    assert "establishment date unknown; attested by" in (bonded.note or "")


def test_event_ids_are_deterministic_and_unique(data: ReferenceData) -> None:
    ids = [e.event_id for e in data.events]
    assert len(ids) == len(set(ids))
    for zone in data.zones:
        for n, event in enumerate(data.events_of(zone.code), start=1):
            assert event.event_id == reference_event_id(zone.code, n)
    assert data.events_of("S159041")[0].event_id == uuid.uuid5(uuid.NAMESPACE_URL, "hitech-zones:reference:S159041:1")


def test_no_date_is_finer_than_its_source(data: ReferenceData) -> None:
    day_sourced = {  # the only zones whose sources give a day
        by_name(data, "中蒙二连浩特—扎门乌德经济合作区"): dt.date(2024, 3, 19),  # 国函〔2024〕40号
        by_name(data, "呼和浩特综合保税区"): dt.date(2025, 9, 9),  # 内蒙古商报
        by_name(data, "乌海高新技术产业开发区"): dt.date(2016, 12, 1),
        by_name(data, "阿拉善乌兰布和生态沙产业高新技术开发区"): dt.date(2016, 12, 1),
    }
    for event in data.events:
        if event.zone_code in CATALOGUE_CODES:
            # the catalogue gives YYYY.MM, the 2023 news a year
            assert event.effective_precision in (DatePrecision.month, DatePrecision.year)
        elif event.effective_precision is DatePrecision.day:
            seed_date = SEED_DATES.get(event.source.split()[1]) if event.source.startswith("seed ") else None
            assert event.effective_date in (day_sourced.get(event.zone_code), seed_date), event
        if event.effective_precision is DatePrecision.month:
            assert event.effective_date.day == 1
        if event.effective_precision is DatePrecision.year:
            assert (event.effective_date.month, event.effective_date.day) == (1, 1)
    for zone in data.zones:
        if zone.approval_date_precision is DatePrecision.day:
            assert zone.approval_date == day_sourced[zone.code]


def test_first_event_establishes_and_events_are_ordered(data: ReferenceData) -> None:
    for zone in data.zones:
        events = data.events_of(zone.code)
        assert events, zone.code
        first = events[0]
        assert None not in (first.kind, first.level, first.status, first.name_zh, first.name_en)
        dates = [e.effective_date for e in events]
        assert dates == sorted(set(dates))


def test_zone_attributes(data: ReferenceData) -> None:
    manzhouli = data.zone("G156020")
    assert manzhouli.area_ha == Decimal("20.96") and manzhouli.county_code == "150781"
    assert current_state("G156020")["kind"] == "other"  # catalogue type 其他类型开发区
    erenhot = data.zone(by_name(data, "中蒙二连浩特—扎门乌德经济合作区"))
    assert (erenhot.area_ha, erenhot.approval_doc, erenhot.county_code) == (
        Decimal("903"),
        "国函〔2024〕40号",
        "152501",
    )
    assert data.zone("G153013").leading_industries == ()  # catalogue: 在建
    assert data.zone("S159041").area_ha == Decimal("2796.11")
    counties = {c.code: c.league_code for c in data.counties}
    for zone in data.zones:
        if zone.county_code:
            assert counties[zone.county_code] == zone.league_code


def test_current_state_unknown_zone() -> None:
    with pytest.raises(KeyError):
        current_state("NM-999")


def _copy(tmp_path: Path) -> Path:
    for name in ("leagues.csv", "counties.csv", "zones.csv", "events.csv"):
        shutil.copy(DATA_DIR / name, tmp_path / name)
    return tmp_path


def _replace_line(path: Path, line: int, transform: Callable[[str], str]) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[line - 1] = transform(lines[line - 1])
    path.write_text("".join(lines), encoding="utf-8")


def test_a_copy_loads(tmp_path: Path) -> None:
    assert len(load_reference(_copy(tmp_path)).zones) == ZONE_COUNT


@pytest.mark.parametrize(
    ("transform", "reason"),
    [
        (lambda s: s.replace(",accredited,", ",approved,", 1), "status 'approved' is not one of"),
        (
            lambda s: s.replace(",month,", ",day,", 1).replace("-01,day,", "-00,day,", 1),
            "not a YYYY-MM-DD date",
        ),
        (lambda s: s.replace("-01,month,", "-15,month,", 1), "must be the 1st of the month"),
        (lambda s: s.replace(",S159041,", ",S999999,", 1), "zone_code 'S999999' is not in zones.csv"),
        (lambda s: s.replace(",industrial_park,", ",,", 1), "first event of zone S159041 must set kind"),
    ],
)
def test_malformed_events_name_file_and_line(tmp_path: Path, transform: Callable[[str], str], reason: str) -> None:
    directory = _copy(tmp_path)
    events = directory / "events.csv"
    line = next(i for i, s in enumerate(events.read_text(encoding="utf-8").splitlines(), 1) if ",S159041,2011" in s)
    _replace_line(events, line, transform)
    with pytest.raises(ValueError, match=rf"events\.csv, line {line}: .*{reason}"):
        load_reference(directory)


def test_duplicate_event_id_and_bad_year_date(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    events = directory / "events.csv"
    lines = events.read_text(encoding="utf-8").splitlines(keepends=True)
    first_id = lines[1].split(",", 1)[0]
    lines[2] = first_id + "," + lines[2].split(",", 1)[1]
    events.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ValueError, match=r"events\.csv, line 3: duplicate event_id"):
        load_reference(directory)
    shutil.copy(DATA_DIR / "events.csv", events)
    _replace_line(
        events,
        next(i for i, s in enumerate(lines, 1) if "2023-01-01,year" in s),
        lambda s: s.replace("2023-01-01,year", "2023-08-01,year"),
    )
    with pytest.raises(ValueError, match=r"events\.csv, line \d+: .*must be January 1"):
        load_reference(directory)


def test_malformed_zone_names_the_line(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    _replace_line(directory / "zones.csv", 2, lambda s: s.replace(",150700,", ",159999,", 1))
    with pytest.raises(ValueError, match=r"zones\.csv, line 2: league_code '159999' is not in leagues\.csv"):
        load_reference(directory)
