import matplotlib
import numpy as np
import pytest

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from astrolens.visualization import plot_confusion_matrix, plot_roc  # noqa: E402


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    logits = rng.normal(size=(60, 3)) + 2 * np.eye(3)[y]
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, proba


def test_plot_roc_draws_each_class_and_both_averages(scores):
    fig, ax = plt.subplots()
    out = plot_roc(*scores, ['no', 'cdm', 'vortex'], ax=ax)
    assert out is ax
    labels = [line.get_label() for line in ax.get_lines()]
    assert sum(label.startswith(('no ', 'cdm ', 'vortex ')) for label in labels) == 3
    assert any(label.startswith('micro average (AUC = ') for label in labels)
    assert any(label.startswith('macro average (AUC = ') for label in labels)
    plt.close(fig)


def test_plot_roc_checks_class_names(scores):
    with pytest.raises(ValueError, match='2 class names given for 3'):
        plot_roc(*scores, ['a', 'b'])
    plt.close('all')


def test_plot_confusion_matrix_writes_counts():
    fig, ax = plt.subplots()
    plot_confusion_matrix([[5, 1, 0], [2, 7, 1], [0, 0, 9]], ['no', 'cdm', 'vortex'], ax=ax)
    texts = [t.get_text() for t in ax.texts]
    assert texts == ['5', '1', '0', '2', '7', '1', '0', '0', '9']
    assert [t.get_text() for t in ax.get_xticklabels()] == ['no', 'cdm', 'vortex']
    plt.close(fig)


def test_plot_confusion_matrix_normalised_rows():
    ax = plot_confusion_matrix([[3, 1], [0, 4]], normalize=True)
    assert [t.get_text() for t in ax.texts] == ['0.75', '0.25', '0.00', '1.00']
    with pytest.raises(ValueError, match='square'):
        plot_confusion_matrix([[1, 2, 3]])
    plt.close('all')


def test_plot_reliability_diagram_draws_bins_diagonal_and_ece(scores):
    from astrolens.metrics import expected_calibration_error, reliability_curve
    from astrolens.visualization import plot_reliability_diagram

    fig, ax = plt.subplots()
    out = plot_reliability_diagram(*scores, ax=ax, n_bins=5, label='model')
    assert out is ax
    curve = reliability_curve(*scores, n_bins=5)
    lines = {line.get_label(): line for line in ax.get_lines()}
    ece = expected_calibration_error(*scores, n_bins=5)
    points = lines[f'model (ECE = {100 * ece:.2f}%)']
    filled = curve['count'] > 0
    np.testing.assert_allclose(points.get_xdata(), curve['confidence'][filled])
    np.testing.assert_allclose(points.get_ydata(), curve['accuracy'][filled])
    np.testing.assert_allclose(lines['perfect calibration'].get_xdata(), [0, 1])
    assert len(ax.patches) == 5  # one bar per bin
    plt.close(fig)
