"""The resnet family end to end on real data no one here wrote: a local sweep of sweeps/resnet_smoke.yaml
on scikit-learn's digits (upscaled to 32 px) reaches >= 0.97 validation accuracy, draws its figures, and
the exported best model reloads in plain Keras (no inat_cnn) and predicts from raw 0..255 pixels."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from digits_data import write_digits
from PIL import Image
from test_plain_keras_load import _ISOLATE

from inat_cnn.engine.agent import run_agent
from inat_cnn.engine.orchestrate import create_sweep_from_file
from inat_cnn.export.best import export_best
from inat_cnn.models import load_model
from inat_cnn.models.predict import predict_probs
from inat_cnn.report.results import read_sweep_results
from inat_cnn.workspace import Workspace

SMOKE = Path(__file__).parents[2] / "sweeps" / "resnet_smoke.yaml"


@pytest.mark.slow
def test_smoke_sweep_learns_digits_and_its_export_loads_in_plain_keras(tmp_path):
    data = write_digits(tmp_path / "digits", side=32, per_class=140, test_per_class=30)
    ws = Workspace.resolve(tmp_path / "ws")
    sweep_id = create_sweep_from_file(SMOKE, "local", None, ws, str(data))
    report = run_agent(sweep_id, data, workspace=ws, wandb_mode="offline", log=lambda message: None)
    assert len(report.finished) == 2 and not report.failed

    result = read_sweep_results(sweep_id, workspace=ws.root)
    best = result.ranked()[0]
    assert best.value >= 0.97, [(t.params, t.value) for t in result.trials]
    figures = {p.name for p in (best.trial_dir / "viz").glob("*.png")}
    assert {"filters.png", "feature_maps.png", "guided_backprop.png", "predictions.png"} <= figures

    exported = export_best(result, tmp_path / "best", log=lambda message: None)
    files = sorted((data / "val").glob("*/*.png"))[::15]  # 20 test images, as raw 0..255 pixels
    x = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in files])
    np.save(tmp_path / "raw.npy", x)
    script = _ISOLATE + textwrap.dedent(f'''
        import json, sys
        import keras, numpy as np
        model = keras.saving.load_model({str(exported.out / "model.keras")!r}, safe_mode=True)
        probs = model.predict(np.load({str(tmp_path / "raw.npy")!r}).astype("float32"), verbose=0)
        np.save({str(tmp_path / "plain.npy")!r}, probs)
        print(json.dumps({{"name": model.name, "inat": [m for m in sys.modules if m.startswith("inat_cnn")]}}))
        ''')
    child = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                           timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    assert json.loads(child.stdout.strip().splitlines()[-1]) == {"name": "resnet8", "inat": []}
    plain = np.load(tmp_path / "plain.npy")
    np.testing.assert_allclose(plain, predict_probs(load_model(exported.out / "model.keras"), x), rtol=1e-5,
                               atol=1e-6)
    labels = np.array([int(p.parent.name.split("_")[1]) for p in files])
    assert (plain.argmax(axis=1) == labels).mean() >= 0.9
