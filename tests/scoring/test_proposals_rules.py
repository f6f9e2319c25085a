"""The art. 15 rules of `proposals/rules.py` without HTTP or a database (002 art. 15; 000 §23; SPEC 4, 8.11):
hand-built rankings, the expected proposals written out by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.scoring.evaluations.service import management_settings
from services.scoring.proposals import rules
from services.scoring.proposals.rules import Draft, Earlier, ManagementSettings, Ranked
from services.scoring.settings import Settings

D = Decimal
GROUP_POINTS = {"1": D(30), "2": D(35), "3": D(20), "4": D(15)}
DEFAULTS = ManagementSettings()  # top 1 with ≥ 0.8 of group 1, bottom 2 and below 60, rule 002


def line(code: str, rank: int, total: str, innovation: str = "10", status: str = "accredited",
         flags: tuple[str, ...] = (), current: str | None = None) -> Ranked:
    return Ranked(code, rank, D(total), {"1": D(innovation), "2": D(0), "3": D(0), "4": D(0)}, status, flags,
                  current)


def kinds(drafts: list[Draft]) -> set[tuple[str, str]]:
    return {(d.zone, d.kind) for d in drafts}


def propose(current: list[Ranked], previous: list[Ranked] | None = None,
            settings: ManagementSettings = DEFAULTS) -> list[Draft]:
    return rules.propose(current, previous, settings, GROUP_POINTS, evaluation_id=2,
                         previous_evaluation_id=1 if previous is not None else None)


# five zones, best first: A B C D E
YEAR = [line("A", 1, "80", "24"), line("B", 2, "70"), line("C", 3, "58"), line("D", 4, "55"), line("E", 5, "40")]


def test_upgrade_rectification_and_no_revocation_without_a_previous_year() -> None:
    # A: rank 1 and 24/30 = 0.8 of group 1 → upgrade; D, E: among the bottom 2 (1 and 0 zones below) and
    # below 60 → rectification; C is below 60 but two zones rank below it
    assert kinds(propose(YEAR)) == {("A", "upgrade"), ("D", "rectification"), ("E", "rectification")}


def test_upgrade_needs_strong_innovation() -> None:
    weaker = [line("A", 1, "80", "23.99"), *YEAR[1:]]
    assert ("A", "upgrade") not in kinds(propose(weaker))


def test_low_score_is_strictly_below_the_threshold() -> None:
    at_threshold = [*YEAR[:3], line("D", 4, "60"), line("E", 5, "59.99")]
    assert kinds(propose(at_threshold)) == {("A", "upgrade"), ("E", "rectification")}


def test_revocation_rule_002_last_twice_and_a_low_score() -> None:
    before = [line("A", 1, "75"), line("B", 2, "65"), line("C", 3, "60"), line("D", 4, "50"), line("E", 5, "45")]
    assert kinds(propose(YEAR, before)) == {("A", "upgrade"), ("D", "rectification"), ("E", "rectification"),
                                            ("E", "revocation")}
    # last now, but not last the year before: no revocation
    swapped = [*before[:3], line("D", 5, "45"), line("E", 4, "50")]
    assert ("E", "revocation") not in kinds(propose(YEAR, swapped))
    # last twice but not a low score
    high = [*YEAR[:4], line("E", 5, "61")]
    assert ("E", "revocation") not in kinds(propose(high, before))
    # absent from the previous evaluation: nothing to compare
    assert ("E", "revocation") not in kinds(propose(YEAR, before[:4]))


def test_ties_at_the_last_place() -> None:
    # ranks 1, 2, 3, 3: both zones ranked 3 are last (none ranks below), so both are near the bottom and
    # both may be revoked; the year before D and E shared the last place too
    tied = [line("A", 1, "80", "24"), line("B", 2, "70"), line("D", 3, "50"), line("E", 3, "50")]
    before = [line("A", 1, "80"), line("B", 2, "70"), line("D", 3, "40"), line("E", 3, "40")]
    assert kinds(propose(tied, before)) == {("A", "upgrade"), ("D", "rectification"), ("E", "rectification"),
                                            ("D", "revocation"), ("E", "revocation")}
    # ranks 1, 2, 2, 4: the two ranked 2 have one zone below them (< 2): near the bottom; only E is last
    shared = [line("A", 1, "80", "24"), line("B", 2, "50"), line("C", 2, "50"), line("E", 4, "40")]
    before = [line("A", 1, "80"), line("B", 2, "50"), line("C", 3, "45"), line("E", 3, "45")]
    assert kinds(propose(shared, before)) == {("A", "upgrade"), ("B", "rectification"), ("C", "rectification"),
                                              ("E", "rectification"), ("E", "revocation")}
    assert rules.is_last(shared[3], shared) and not rules.is_last(shared[1], shared)


def test_revocation_rule_000_after_rectification_and_poor_innovation() -> None:
    s000 = DEFAULTS.model_copy(update={"revocation_rule": "000"})
    # D was under rectification and is near the bottom in both years, 10/30 of group 1 (< 0.8): revocation
    # (and, rectifying already, no new rectification); E is last twice but was not under rectification:
    # 000 §23 asks for both
    current = [*YEAR[:3], line("D", 4, "55", status="rectification"), line("E", 5, "40")]
    before = [line("A", 1, "75"), line("B", 2, "65"), line("C", 3, "60"), line("D", 4, "50"), line("E", 5, "45")]
    assert kinds(propose(current, before, s000)) == {("A", "upgrade"), ("E", "rectification"), ("D", "revocation")}
    # strong innovation (24/30) is not "poor innovation capacity"
    strong = [*YEAR[:3], line("D", 4, "55", "24", status="rectification"), line("E", 5, "40")]
    assert ("D", "revocation") not in kinds(propose(strong, before, s000))
    # not near the bottom the year before
    earlier = [line("A", 1, "75"), line("D", 2, "65"), line("B", 3, "60"), line("C", 4, "50"), line("E", 5, "45")]
    assert ("D", "revocation") not in kinds(propose(current, earlier, s000))


def test_thresholds_are_the_settings() -> None:
    settings = management_settings(Settings(management_upgrade_top_ranks=2,
                                            management_upgrade_min_innovation_share=D("0.3"),
                                            management_rectification_bottom_ranks=3, management_low_score=D(59)))
    assert settings == ManagementSettings(upgrade_top_ranks=2, upgrade_min_innovation_share=D("0.3"),
                                          rectification_bottom_ranks=3, low_score=D(59))
    # A (24/30) and B (10/30 ≥ 0.3) within the top 2; C (58), D (55), E (40) among the bottom 3 and below 59
    assert kinds(propose(YEAR, None, settings)) == {("A", "upgrade"), ("B", "upgrade"), ("C", "rectification"),
                                                    ("D", "rectification"), ("E", "rectification")}
    none = ManagementSettings(upgrade_top_ranks=0, rectification_bottom_ranks=0)
    assert kinds(propose(YEAR, YEAR, none)) == {("E", "revocation")}  # last twice, 40 < 60


@pytest.mark.parametrize(("current", "expected"), [
    ("accredited", {("E", "rectification"), ("E", "revocation")}),
    ("rectification", {("E", "revocation")}),  # rectifying already: only accredited → rectification
    ("revocation_proposed", set()),  # neither: accredited/rectification → revocation_proposed
    ("revoked", set()),
])
def test_the_zone_status_now_decides_what_may_be_proposed(current: str, expected: set[tuple[str, str]]) -> None:
    only_e = ManagementSettings(upgrade_top_ranks=0, rectification_bottom_ranks=1)
    now = [*YEAR[:4], line("E", 5, "40", status="accredited", current=current)]
    assert kinds(propose(now, YEAR, only_e)) == expected
    # without the status now, the cohort's status at the year's end stands in
    then = [*YEAR[:4], line("E", 5, "40", status=current)]
    assert kinds(propose(then, YEAR, only_e)) == expected


def test_evidence_names_ranks_scores_and_the_missing_data_flags() -> None:
    flags = ("missing:1.1:undefined", "missing:4.2:qualitative")
    now = [*YEAR[:4], line("E", 5, "40", flags=flags, current="accredited")]
    before = [*YEAR[:4], line("E", 5, "45", flags=("missing:2.7",))]
    only_e = ManagementSettings(upgrade_top_ranks=0, rectification_bottom_ranks=1)
    drafts = {d.kind: d.evidence for d in propose(now, before, only_e)}
    common = {
        "evaluation_id": 2, "rank": 5, "total": "40", "cohort_size": 5, "registry_status": "accredited",
        "flags": ["missing:1.1:undefined", "missing:4.2:qualitative"], "innovation_group": "1",
        "innovation_points": "10", "innovation_share": "0.3333", "settings": only_e.model_dump(mode="json"),
        "previous_evaluation_id": 1, "previous_rank": 5, "previous_total": "45", "previous_cohort_size": 5,
        "previous_flags": ["missing:2.7"],
    }
    assert drafts == {
        "rectification": {**common, "rule": "002 art. 15 ¶2: near the bottom region-wide and a low score"},
        "revocation": {**common, "rule": "002 art. 15 ¶3: last region-wide in two consecutive evaluations and a "
                                         "low score"},
    }


def test_transitions_of_the_contracts() -> None:
    assert rules.transition_rule("rectification") == "accredited → rectification"
    assert rules.transition_rule("revocation") == "accredited/rectification → revocation_proposed"
    possible = {(k, s) for k in ("upgrade", "rectification", "revocation")
                for s in ("accredited", "rectification", "revocation_proposed", "revoked")
                if rules.transition_possible(k, s)}
    assert possible == {("upgrade", "accredited"), ("upgrade", "rectification"), ("upgrade", "revocation_proposed"),
                        ("upgrade", "revoked"), ("rectification", "accredited"), ("revocation", "accredited"),
                        ("revocation", "rectification")}


def test_a_correction_does_not_draw_again_what_was_confirmed() -> None:
    drafts = [Draft("D", "rectification", {"rank": 4}), Draft("E", "rectification", {"rank": 5}),
              Draft("E", "revocation", {"rank": 5}), Draft("A", "upgrade", {"rank": 1})]
    earlier = {("D", "rectification"): Earlier(11, 1, "confirmed"), ("E", "rectification"): Earlier(12, 1, "proposed"),
               ("E", "revocation"): Earlier(13, 1, "dismissed")}
    assert rules.carry_over(drafts, earlier) == [
        Draft("E", "rectification", {"rank": 5, "earlier_proposal": {"id": 12, "evaluation_id": 1,
                                                                     "state": "proposed"}}),
        Draft("E", "revocation", {"rank": 5, "earlier_proposal": {"id": 13, "evaluation_id": 1,
                                                                  "state": "dismissed"}}),
        Draft("A", "upgrade", {"rank": 1}),
    ]
