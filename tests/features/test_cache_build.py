"""The build streams train, val and test through the prefix in batches of one shape (one trace)."""

import numpy as np


def test_one_batch_shape_and_every_row_where_it_belongs(tmp_path):
    from inat_cnn.features.cache import load_or_build

    rng = np.random.default_rng(0)
    parts = {p: rng.integers(0, 256, (n, 4, 4, 3), dtype=np.uint8) for p, n in (("train", 6), ("val", 3), ("test", 2))}
    shapes_seen = []

    def compute(images):  # per-image values: a row in the wrong place, or padding kept, would show
        shapes_seen.append(images.shape)
        flat = images.reshape(len(images), -1).astype(np.float32)
        return [np.stack([flat.mean(axis=1), flat[:, 0]], axis=1), flat[:, :3] * 2]

    got = load_or_build(tmp_path, {"backbone": "fake", "cut": ["a", "b"]}, [(2,), (3,)], parts, compute, batch=4)
    assert shapes_seen == [(4, 4, 4, 3)] * 3  # 11 rows: 3 calls of 4, the last padded by one row
    for part, x in parts.items():
        want = compute(x)
        for stored, expected in zip(got.parts[part], want):
            np.testing.assert_allclose(np.asarray(stored, np.float32), expected, rtol=1e-3)  # float16 storage
    assert got.meta["counts"] == {"train": 6, "val": 3, "test": 2}


def test_float16_storage_rounds_every_value_as_numpy_does_subnormals_included():
    from inat_cnn.features.cache import _as_float16

    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(size=500), rng.normal(size=500) * 1e-6, rng.normal(size=500) * 1e4,
                        [0.0, -0.0, 6.1e-5, 5.96e-8, 2.9e-8, 1e-9, -3e-6, 65504.0]]).astype(np.float32)
    got = _as_float16(x)
    assert got.dtype == np.float16 and got.shape == x.shape
    assert np.array_equal(got.view(np.uint16), x.astype(np.float16).view(np.uint16))  # bit for bit
