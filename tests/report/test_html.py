"""The HTML report renders in real headless Chromium: no JS errors, plotly figures drawn, not blank."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image
from report_sweeps import T, make_sweep, run_cli

from inat_cnn.report.dashboard import write_report
from inat_cnn.report.results import read_sweep_results


def _finetune_trials() -> list[T]:
    """A Layer_Fine_Tuning-style sweep: backbone x trainable_layers, plus pruned / failed / running trials."""
    trials = []
    for backbone, base in (("resnet50", 0.5), ("mobilenet_v2", 0.4)):
        for k, (layers, share) in enumerate(((0, 0.0), (10, 0.05), (40, 0.3))):
            acc = base + 0.1 * k
            trials.append(T({"backbone": backbone, "trainable_layers": layers}, curve=[acc - 0.1, acc],
                            metrics={"layer_tuning_ratio": layers / 175, "parameter_tuning_ratio": share},
                            viz=(backbone == "resnet50" and layers == 40)))
    trials.append(T({"backbone": "resnet50", "trainable_layers": 10}, curve=[0.2], state="PRUNED"))
    trials.append(T({"backbone": "vgg16", "trainable_layers": 10}, curve=[0.1], state="FAIL",
                    test_accuracy=None, fail_reason="loss became NaN at epoch 1"))
    trials.append(T({"backbone": "vgg16", "trainable_layers": 40}, curve=[0.3], state="RUNNING", test_accuracy=None))
    return trials


def _attrs(dom: str) -> dict[str, str]:
    head = dom[:dom.index(">", dom.index("<html")) + 1]
    return dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', head))


def _page_console_messages(stderr: str) -> list[str]:
    """Console messages chromium logged for the page, minus the GPU driver's own WebGL notices
    (software rendering performance notes, not page errors)."""
    messages = re.findall(r':CONSOLE[^\]]*\] "(.*?)", source:', stderr)
    return [m for m in messages if not m.startswith(("[.WebGL-", "[]Automatic fallback to software WebGL"))]


def _js_errors(dom: str) -> list[str]:
    return json.loads(_attrs(dom)["data-js-errors"].replace("&quot;", '"'))


@pytest.fixture(scope="module")
def finetune_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune")
    url = make_sweep(root / "ws", _finetune_trials(), sweep_id="layers-1")
    result = read_sweep_results("layers-1", storage=url)
    return result, write_report(result, root / "out" / "report.html")


@pytest.mark.slow
def test_report_renders_in_chromium_without_errors(finetune_report, browser, tmp_path):
    result, written = finetune_report
    text = written.html.read_text()
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', text), "report must not fetch anything"
    dom, stderr = browser.dump_dom(written.html)
    attrs = _attrs(dom)
    assert attrs.get("data-report-ready") == "1"
    assert _js_errors(dom) == []
    assert _page_console_messages(stderr) == []
    # parallel coordinates, importance, learning curves, tuning ratio: all four drawn by plotly.js
    assert attrs["data-plotly-figures"] == "4"
    for name in ("parallel_coordinates", "parameter_importance", "learning_curves", "tuning_ratio"):
        assert f'id="plot-{name}"' in dom and name in written.pngs
    assert dom.count('<img alt="') == 2  # the best trial's two viz PNGs, inlined
    for state in ("finished", "pruned", "failed", "running"):
        assert f'class="state-{state}"' in dom
    assert "loss became NaN at epoch 1" in dom

    shot = browser.screenshot(written.html, tmp_path / "shot.png")
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 20 and (pixels < 200).mean() > 0.02, "screenshot looks blank"


@pytest.mark.slow
def test_error_hook_reports_a_broken_page(browser, tmp_path):
    """Negative control: the same self-check flags a page whose script throws."""
    from inat_cnn.report import html

    page = tmp_path / "broken.html"
    page.write_text(html.page("broken", ["<script>undefinedFunction();</script>"]))
    dom, _ = browser.dump_dom(page)
    assert any("undefinedFunction" in e for e in _js_errors(dom))
    assert _attrs(dom)["data-plotly-figures"] == "0"


def test_tuning_ratio_curve_is_per_backbone_and_sorted(finetune_report):
    from inat_cnn.report.plotdata import tuning_ratio_data

    result, _ = finetune_report
    data = tuning_ratio_data(result)
    layer_panel, param_panel = data.panels
    assert [s.name for s in layer_panel.series] == ["mobilenet_v2", "resnet50"]
    resnet = layer_panel.series[1]
    assert resnet.x == sorted(resnet.x) and resnet.x[0] == 0.0
    assert resnet.y == pytest.approx([0.5, 0.6, 0.7])
    assert param_panel.series[1].x == [0.0, 0.05, 0.3]


@pytest.mark.slow
def test_single_trial_sweep_and_cli(tmp_path, browser, capsys):
    url = make_sweep(tmp_path / "ws", [T({"learning_rate": 0.01}, curve=[0.3, 0.35])], sweep_id="one")
    out = tmp_path / "r" / "one.html"
    assert run_cli(["report", "one", "--storage", url, "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    dom, _ = browser.dump_dom(out)
    assert _js_errors(dom) == []
    assert _attrs(dom)["data-plotly-figures"] == "2"  # parallel coordinates + learning curve
    assert "Parameter importance needs at least 3 trials" in dom
    assert sorted(p.name for p in (tmp_path / "r" / "one_plots").iterdir()) == [
        "learning_curves.png", "parallel_coordinates.png"]


def test_report_cli_errors_are_user_errors(tmp_path, capsys):
    assert run_cli(["report", "nope", "--workspace", str(tmp_path / "empty")]) == 2
    assert "no sweep database" in capsys.readouterr().err
    assert not (tmp_path / "empty" / "sweeps.db").exists()
    url = make_sweep(tmp_path / "ws", [T({"learning_rate": 0.01})], sweep_id="exists")
    assert run_cli(["report", "missing", "--storage", url]) == 2
    assert "sweeps there: exists" in capsys.readouterr().err
