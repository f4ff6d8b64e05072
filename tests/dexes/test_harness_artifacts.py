"""The committed harness artifacts are what the npm solc makes of tests/contracts/*.sol."""

from __future__ import annotations

import pytest

from devnet.compile import artifact_text, artifacts_from_output, run_solc, solc_input
from tests.dexes.v3_chain import HARNESS_ARTIFACTS

pytestmark = pytest.mark.integration


def test_harness_artifacts_are_not_stale() -> None:
    compiled = artifacts_from_output(run_solc(solc_input(HARNESS_ARTIFACTS.parent)))
    assert sorted(compiled) == sorted(p.stem for p in HARNESS_ARTIFACTS.glob("*.json"))
    for name, artifact in compiled.items():
        assert (HARNESS_ARTIFACTS / f"{name}.json").read_text() == artifact_text(artifact), name
