"""Fixtures of the uncertainty tests: the 002 and ASEM frameworks, a synthetic 002 cohort and COINr's ASEM
data (helpers of the engine's tests reused), fresh per test so that no cached stage leaks between them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from services.scoring.frameworks.definition import FrameworkDocument
from services.scoring.frameworks.service import ASEM_FRAMEWORK, DEFAULT_FRAMEWORK, bundled_documents
from services.scoring.methods.cohort import CohortInput
from tests.scoring.methods.test_asem_parity import DENOMINATORS, GROUPS, number, table
from tests.scoring.methods.test_engine_nmg import synthetic


def framework_of(framework_id: str) -> FrameworkDocument:
    return FrameworkDocument.model_validate(next(d for d in bundled_documents() if d["id"] == framework_id))


@pytest.fixture(scope="session")
def nmg() -> FrameworkDocument:
    return framework_of(DEFAULT_FRAMEWORK)


@pytest.fixture(scope="session")
def asem() -> FrameworkDocument:
    return framework_of(ASEM_FRAMEWORK)


def asem_cohort(framework: FrameworkDocument) -> CohortInput:
    rows = list(table("ASEM_iData_unrounded.csv").values())
    return CohortInput(
        units=[r["uCode"] for r in rows],
        values={n.code: np.array([number(r[n.code]) for r in rows]) for n in framework.indicators},
        denominators={v: np.array([number(r[v]) for r in rows]) for v in DENOMINATORS},
        groups={g: [r[g] or None for r in rows] for g in GROUPS},
    )


@pytest.fixture
def asem_data(asem: FrameworkDocument) -> CohortInput:
    return asem_cohort(asem)


@pytest.fixture
def zones(nmg: FrameworkDocument) -> Callable[[int], CohortInput]:
    """A fresh synthetic 002 cohort of n zones (gaps with their reasons, experts' scores)."""
    return lambda n: synthetic(nmg, n, seed=11)
