"""`verify` re-scores quality: agreement is the re-scored figure within the published interval."""

from __future__ import annotations

from leaderboard_data.quality_agreement import QualityAgreement
from leaderboard_data.records import Quality
from leaderboard_data.verifications import build_verification, compare
from tests.helpers_results import make_result


def _quality(value: float | None, low: float = 0.7, high: float = 0.9) -> Quality:
    if value is None:
        return Quality(metric="accuracy", note="the dataset has no reference column label")
    return Quality(metric="accuracy", value=value, ci_low=low, ci_high=high, samples=100)


def test_agreement_within_the_published_interval() -> None:
    assert QualityAgreement(_quality(0.8), _quality(0.8)).agrees is True
    assert QualityAgreement(_quality(0.8), _quality(0.85, 0.75, 0.95)).agrees is True
    disagreeing = QualityAgreement(_quality(0.8), _quality(0.5, 0.4, 0.6))
    assert disagreeing.agrees is False and disagreeing.text().endswith(": disagrees")
    missing = QualityAgreement(_quality(None), _quality(None))
    assert missing.agrees is None and "no reference column" in missing.text()
    assert QualityAgreement(None, _quality(0.8)).text().startswith("quality: published not scored")


def test_a_verification_records_both_quality_figures() -> None:
    published = make_result(task="text_classification", worker_id="worker-a", quality=_quality(0.8))
    remeasured = make_result(task="text_classification", worker_id="worker-b", quality=_quality(0.5, 0.4, 0.6))
    verification = build_verification(published, remeasured, compare(published, remeasured))
    assert (verification.published_quality, verification.rescored_quality) == (0.8, 0.5)
    assert verification.quality_agrees is False
