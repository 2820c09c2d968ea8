"""Prediction grid and confusion matrix agree with model.predict; the sample is fixed and class-covering."""

import matplotlib.colors as mcolors
import numpy as np

from inat_cnn.viz.confusion import confusion, draw_confusion, plot_confusion
from inat_cnn.viz.figures import GREEN, PRED_CELL_PX, RED, TITLE_BAND_PX
from inat_cnn.viz.predictions import draw_prediction_grid, grid_classes, grid_sample, plot_predictions


def test_grid_sample_is_first_three_of_each_class_in_split_order():
    labels = np.array([2, 0, 1, 0, 2, 2, 0, 2, 0, 1], np.int32)
    assert grid_sample(labels, 4) == [[1, 3, 6], [2, 9], [0, 4, 5], []]
    assert grid_sample(labels, 4) == grid_sample(labels.copy(), 4)
    assert grid_classes(10) == list(range(10))
    many = grid_classes(100)
    assert len(many) == 20 and many[0] == 0 and many[-1] == 99


def _pred_texts(fig):
    """[(true text, pred text, pred colour)] per image axes, in drawing order."""
    cells = []
    for ax in fig.axes:
        texts = [t for t in ax.texts if t.get_text().startswith(("true:", "pred:"))]
        if texts:
            cells.append((texts[0].get_text(), texts[1].get_text(), mcolors.to_hex(texts[1].get_color())))
    return cells


def test_prediction_grid_labels_match_model_predict(tmp_path, make_cnn, tiny_images):
    x, y = tiny_images
    y = y.copy()
    y[y == 3] = 2  # class 3 has no test image: its row says so
    names = ["ant", "bee", "cat", "dog"]
    model = make_cnn("separate")
    path, rows = plot_predictions(model, x, y, names, tmp_path / "pred.png")
    probs = model.predict(x, verbose=0)
    assert [[c.index for c in row] for row in rows] == grid_sample(y, 4)
    for row in rows:
        for cell in row:
            assert cell.pred == int(np.argmax(probs[cell.index])) and cell.true == int(y[cell.index])
            np.testing.assert_allclose(cell.confidence, probs[cell.index].max(), rtol=1e-5)
    fig = draw_prediction_grid(x, rows, names, grid_classes(4), "t")
    drawn = _pred_texts(fig)
    flat = [cell for row in rows for cell in row]
    assert len(drawn) == len(flat) == 9
    for (true_text, pred_text, colour), cell in zip(drawn, flat):
        assert true_text == f"true: {names[cell.true]}"
        assert pred_text == f"pred: {names[cell.pred]} ({cell.confidence:.0%})"
        assert colour == (GREEN if cell.pred == cell.true else RED)
    assert any("no test image\nof dog" in t.get_text() for ax in fig.axes for t in ax.texts)
    from PIL import Image

    assert Image.open(path).size == (3 * PRED_CELL_PX[0], 4 * PRED_CELL_PX[1] + TITLE_BAND_PX)


def test_confusion_counts_and_per_class_accuracy(tmp_path):
    y_true = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 1, 0, 1, 0, 2, 2, 0, 2])
    cm, acc = confusion(y_true, y_pred, 4)
    expected = np.zeros((4, 4), int)
    for t, p in zip(y_true, y_pred):
        expected[t, p] += 1
    np.testing.assert_array_equal(cm, expected)
    np.testing.assert_allclose(acc[:3], [2 / 3, 1 / 2, 3 / 4])
    assert np.isnan(acc[3])
    fig = draw_confusion(cm, list("abcd"))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["a (67%)", "b (50%)", "c (75%)", "d (n/a)"]
    cells = {t.get_text() for t in fig.axes[0].texts}
    assert cells == {"2", "1", "3"}
    from PIL import Image

    png = np.asarray(Image.open(plot_confusion(y_true, y_pred, list("abcd"), tmp_path / "cm.png")).convert("L"))
    assert png.shape == (900, 1000) and png.std() > 10
