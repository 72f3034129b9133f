import numpy as np
import pytest

from astrolens.metrics import (
    accuracy,
    auc,
    classification_report,
    confusion_matrix,
    multiclass_roc,
    roc_auc,
    roc_curve,
)


def test_roc_curve_matches_the_hand_computed_example():
    # Two negatives (0.1, 0.4) and two positives (0.35, 0.8): of the four
    # (positive, negative) pairs three are ordered right, so AUC = 3/4.
    fpr, tpr, thresholds = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(thresholds, [np.inf, 0.8, 0.4, 0.35, 0.1])
    assert auc(fpr, tpr) == pytest.approx(0.75)


def test_tied_scores_count_half():
    fpr, tpr, _ = roc_curve([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])
    # Pairs: (0.9 > 0.5) 1, (0.9 > 0.2) 1, (0.5 = 0.5) 1/2, (0.5 > 0.2) 1 -> 3.5 / 4.
    assert auc(fpr, tpr) == pytest.approx(0.875)


def test_auc_equals_the_pair_count_on_random_scores():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    s = rng.normal(size=200) + y
    pos, neg = s[y == 1], s[y == 0]
    expected = np.mean((pos[:, None] > neg[None]) + 0.5 * (pos[:, None] == neg[None]))
    assert auc(*roc_curve(y, s)[:2]) == pytest.approx(expected, abs=1e-12)


def test_roc_curve_needs_both_classes():
    with pytest.raises(ValueError, match='both positive and negative'):
        roc_curve([1, 1, 1], [0.1, 0.2, 0.3])


def test_roc_auc_multiclass_per_class_micro_macro():
    y = np.array([0, 0, 1, 1, 2, 2])
    proba = np.array([[0.8, 0.1, 0.1], [0.3, 0.4, 0.3], [0.2, 0.7, 0.1],
                      [0.1, 0.3, 0.6], [0.1, 0.2, 0.7], [0.2, 0.2, 0.6]])
    result = roc_auc(y, proba)
    # Class 0 vs rest: positives 0.8, 0.3; negatives 0.2, 0.1, 0.1, 0.2 -> all 8 pairs right.
    assert result['per_class'][0] == pytest.approx(1.0)
    # Class 1: positives 0.7, 0.3; negatives 0.1, 0.4, 0.2, 0.2 -> 7 of 8 pairs right.
    assert result['per_class'][1] == pytest.approx(7 / 8)
    assert result['macro'] == pytest.approx(np.mean(result['per_class']))
    onehot = np.eye(3)[y]
    assert result['micro'] == pytest.approx(auc(*roc_curve(onehot.ravel(), proba.ravel())[:2]))
    curves = multiclass_roc(y, proba)
    assert set(curves) == {0, 1, 2, 'micro', 'macro'}
    assert curves['macro'][0][0] == 0 and curves['macro'][1][-1] == pytest.approx(1)


def test_confusion_matrix_and_accuracy_by_hand():
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], n_classes=3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert accuracy([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2]) == pytest.approx(4 / 6)


def test_classification_report_is_json_ready():
    y = np.array([0, 1, 2, 0])
    proba = np.eye(3)[[0, 1, 2, 1]] * 0.8 + 0.2 / 3
    report = classification_report(y, proba, classes=['no', 'cdm', 'vortex'])
    assert report['accuracy'] == pytest.approx(0.75)
    assert set(report['auc_per_class']) == {'no', 'cdm', 'vortex'}
    assert report['confusion_matrix'] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    import json

    json.dumps(report)


def test_labels_out_of_range_are_refused():
    with pytest.raises(ValueError, match=r'integers in \[0, 3\)'):
        roc_auc([0, 1, 3], np.full((3, 3), 1 / 3))


def test_ece_of_a_hand_computed_example():
    from astrolens.metrics import expected_calibration_error, reliability_curve

    # two bins used: confidence 0.6 (3 images, 2 right) and 0.9 (1 image, right)
    proba = np.array([[0.6, 0.4], [0.6, 0.4], [0.6, 0.4], [0.1, 0.9]])
    y = np.array([0, 0, 1, 1])
    curve = reliability_curve(y, proba, n_bins=10)
    filled = curve['count'] > 0
    np.testing.assert_allclose(curve['confidence'][filled], [0.6, 0.9])
    np.testing.assert_allclose(curve['accuracy'][filled], [2 / 3, 1.0])
    np.testing.assert_array_equal(curve['count'][filled], [3, 1])
    # weighted by the counts: (3 * |2/3 - 0.6| + 1 * |1.0 - 0.9|) / 4
    assert expected_calibration_error(y, proba, n_bins=10) == pytest.approx(0.075)


def test_ece_is_small_for_calibrated_and_large_for_overconfident_probabilities():
    from astrolens.metrics import expected_calibration_error

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(20000, 3)) * 2
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = (rng.random(20000)[:, None] > np.cumsum(proba, 1)).sum(1)  # labels drawn from proba
    assert expected_calibration_error(y, proba) < 0.01
    sharp = np.exp(3 * logits) / np.exp(3 * logits).sum(1, keepdims=True)
    assert expected_calibration_error(y, sharp) > 0.1


def test_classification_report_includes_ece_and_bins_are_checked():
    from astrolens.metrics import classification_report, reliability_curve

    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    assert 0 <= classification_report([0, 1, 2], proba)['ece'] <= 1
    with pytest.raises(ValueError, match='n_bins must be a positive integer'):
        reliability_curve([0, 1, 2], proba, n_bins=0)
