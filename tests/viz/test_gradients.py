"""The guided rule itself, on crafted inputs, through the backend-specific gradient code."""

import keras
import numpy as np

from inat_cnn.viz import gradients


def test_guided_relu_passes_only_positive_input_and_positive_upstream():
    x = np.array([-2.0, -1.0, -0.5, 0.5, 1.0, 3.0, 2.0, 0.0], np.float32)
    up = np.array([1.0, -1.0, 2.0, 1.0, -1.0, 2.0, -3.0, 1.0], np.float32)
    guided = gradients.vjp(gradients.guided(keras.activations.relu), x, up)
    plain = gradients.vjp(keras.activations.relu, x, up)
    np.testing.assert_array_equal(guided, [0, 0, 0, 1, 0, 2, 0, 0])
    np.testing.assert_array_equal(plain, [0, 0, 0, 1, -1, 2, -3, 0])


def test_guided_forward_values_are_unchanged():
    x = np.linspace(-3, 3, 13).astype(np.float32)
    for fn in (keras.activations.relu, keras.activations.gelu):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(gradients.guided(fn)(keras.ops.convert_to_tensor(x))),
                                   keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(x))), rtol=1e-6)


def test_guided_gelu_gates_its_own_derivative_by_the_upstream_sign():
    x = np.array([-1.5, -0.3, 0.2, 1.1, 2.0], np.float32)
    up = np.array([1.0, -2.0, 0.5, -1.0, 3.0], np.float32)
    eps = 1e-3
    gelu = keras.activations.gelu

    def num(v):
        return np.asarray(keras.ops.convert_to_numpy(gelu(keras.ops.convert_to_tensor(v))), np.float64)

    derivative = (num(x + eps) - num(x - eps)) / (2 * eps)
    guided = gradients.vjp(gradients.guided(gelu), x, up)
    np.testing.assert_allclose(guided, derivative * np.maximum(up, 0), atol=2e-3)
    assert guided[1] == 0 and guided[3] == 0  # negative upstream: blocked even where gelu' != 0


def test_jacobian_rows_match_one_vjp_per_output():
    w = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]], np.float32)

    def fn(v):
        return keras.ops.matmul(keras.ops.convert_to_tensor(w), v * v)

    x = np.array([1.0, -2.0, 0.5], np.float32)
    rows = gradients.jacobian_rows(fn, x)
    np.testing.assert_allclose(rows, w * (2 * x)[None, :], rtol=1e-6)
    for i in range(2):
        np.testing.assert_allclose(rows[i], gradients.vjp(fn, x, np.eye(2, dtype=np.float32)[i]), rtol=1e-6)
