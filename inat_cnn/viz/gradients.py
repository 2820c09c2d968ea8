"""The only backend-specific code of the visualizations: gradients.

TensorFlow (the default) uses ``tf.GradientTape`` and ``tf.custom_gradient``;
with ``KERAS_BACKEND=jax`` the same three functions use ``jax.vjp`` and
``jax.custom_vjp``. Everything runs eagerly (never inside a traced
predict function), so temporarily swapped activations take effect.

- ``guided(fn)``: ``fn`` forward; backward passes ``vjp_fn(max(upstream, 0))``.
  For ReLU that is exactly the guided-backprop rule: gradient only where the
  forward input is > 0 AND the upstream gradient is > 0.
- ``vjp(fn, x, cotangent)``: the vector-Jacobian product of ``fn`` at ``x``.
- ``jacobian_rows(fn, x)``: d fn(x)[k] / d x for every k of a 1-D ``fn(x)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from ..errors import UserError

SUPPORTED = ("tensorflow", "jax")
Fn = Callable[[Any], Any]


def backend() -> str:
    """The active Keras backend, or UserError when gradients are not implemented for it."""
    name = keras.backend.backend()
    if name not in SUPPORTED:
        raise UserError(f"guided backpropagation supports KERAS_BACKEND={' or '.join(SUPPORTED)} (got {name!r})")
    return name


def guided(fn: Fn) -> Fn:
    """Wrap an element-wise activation so that only positive upstream gradients flow back through it."""
    return _guided_tf(fn) if backend() == "tensorflow" else _guided_jax(fn)


def vjp(fn: Fn, x: np.ndarray, cotangent: np.ndarray) -> np.ndarray:
    """cotangent^T · d fn / d x at ``x`` (float32 numpy)."""
    if backend() == "tensorflow":
        import tensorflow as tf

        xt = tf.convert_to_tensor(np.asarray(x, np.float32))
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = fn(xt)
        grad = tape.gradient(y, xt, output_gradients=tf.convert_to_tensor(np.asarray(cotangent, np.float32)))
        return _numpy(grad, xt.shape)
    import jax
    import jax.numpy as jnp

    _, pull = jax.vjp(fn, jnp.asarray(x, jnp.float32))
    return np.asarray(pull(jnp.asarray(cotangent, jnp.float32))[0])


def jacobian_rows(fn: Fn, x: np.ndarray) -> np.ndarray:
    """For ``fn(x)`` of shape (k,): an array (k, *x.shape) whose row i is d fn(x)[i] / d x.

    One forward pass, then one backward pass per output.
    """
    if backend() == "tensorflow":
        import tensorflow as tf

        xt = tf.convert_to_tensor(np.asarray(x, np.float32))
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(xt)
            y = fn(xt)
        k = int(y.shape[0])
        rows = [_numpy(tape.gradient(y, xt, output_gradients=tf.one_hot(i, k, dtype=y.dtype)), xt.shape)
                for i in range(k)]
        del tape
        return np.stack(rows) if rows else np.zeros((0,) + tuple(xt.shape), np.float32)
    import jax
    import jax.numpy as jnp

    y, pull = jax.vjp(fn, jnp.asarray(x, jnp.float32))
    k = int(y.shape[0])
    rows = [np.asarray(pull(jnp.zeros_like(y).at[i].set(1))[0]) for i in range(k)]
    return np.stack(rows) if rows else np.zeros((0,) + np.shape(x), np.float32)


def _numpy(grad: Any, shape: Any) -> np.ndarray:
    """A gradient as numpy; TF returns None when the output does not depend on the input."""
    if grad is None:
        return np.zeros(tuple(shape), np.float32)
    return np.asarray(grad, dtype=np.float32)


def _guided_tf(fn: Fn) -> Fn:
    import tensorflow as tf

    @tf.custom_gradient
    def guided_fn(x: Any) -> Any:
        def grad(upstream: Any) -> Any:
            # Recompute the local vjp on a fresh tape: grad may run several times
            # (one backward pass per explained neuron on a persistent tape).
            with tf.GradientTape() as tape:
                tape.watch(x)
                y_again = fn(x)
            return tape.gradient(y_again, x, output_gradients=tf.nn.relu(upstream))

        return fn(x), grad

    return guided_fn


def _guided_jax(fn: Fn) -> Fn:
    import jax
    import jax.numpy as jnp

    @jax.custom_vjp
    def guided_fn(x: Any) -> Any:
        return fn(x)

    def forward(x: Any) -> tuple[Any, Any]:
        return fn(x), x

    def backward(x: Any, upstream: Any) -> tuple[Any]:
        _, pull = jax.vjp(fn, x)
        return pull(jnp.maximum(upstream, 0))

    guided_fn.defvjp(forward, backward)
    return guided_fn
