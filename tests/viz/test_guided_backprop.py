"""Guided backprop on tiny CNNs equals a hand-written computation, for every way a ReLU can appear."""

import numpy as np
import pytest

from inat_cnn.errors import UserError
from inat_cnn.models.layers import leaf_layers
from inat_cnn.viz.guided_backprop import choose_neurons, guided_activations, guided_backprop, guided_gradients
from inat_cnn.viz.introspect import default_target_layer, find_layer, layer_outputs

TARGETS = {"separate": "block2_act", "relu_layer": "block2_act", "fused": "block2_conv", "nested": "block2_act"}


@pytest.mark.parametrize("variant", sorted(TARGETS))
def test_guided_backprop_equals_hand_computation(variant, make_cnn, hand_guided, tiny_images):
    model = make_cnn(variant)
    image = tiny_images[0][3]
    assert default_target_layer(model).name == TARGETS[variant]
    result = guided_backprop(model, image, neurons=10)

    target = find_layer(model, TARGETS[variant])
    fmap = np.asarray(layer_outputs(model, [target], image[None].astype(np.float32))[0])[0]
    assert (result.channels, result.positions) == choose_neurons(fmap, 10)[:2]
    assert result.wrapped == {"relu": 2}
    assert result.gradients.shape == (10, 16, 16, 3)

    for k, (ch, pos) in enumerate(zip(result.channels, result.positions)):
        np.testing.assert_allclose(result.gradients[k], hand_guided(model, image, ch, pos), rtol=1e-4, atol=1e-7)
    assert np.abs(result.gradients).sum() > 0


@pytest.mark.parametrize("variant", ["separate", "nested"])
def test_guided_differs_from_plain_exactly_as_the_hand_masks_say(variant, make_cnn, hand_guided, tiny_images):
    """Every channel at one fixed position: guided == hand-guided, plain == hand-plain, and they differ."""
    model = make_cnn(variant)
    image = tiny_images[0][5]
    target = find_layer(model, TARGETS[variant])
    channels, positions = list(range(12)), [(6, 9)] * 12
    x = image[None].astype(np.float32)
    plain = guided_gradients(model, x, target, channels, positions)
    with guided_activations(model):
        guided = guided_gradients(model, x, target, channels, positions)
    differs = 0
    for ch in channels:
        hand = hand_guided(model, image, ch, (6, 9))
        np.testing.assert_allclose(guided[ch], hand, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(plain[ch], hand_guided(model, image, ch, (6, 9), guided=False), rtol=1e-4,
                                   atol=1e-7)
        differs += not np.allclose(guided[ch], plain[ch], atol=1e-6)
    assert differs >= 3, "negative upstream gradients must occur, or guided == plain proves nothing"


def test_guided_activations_are_restored_after_use(make_cnn, tiny_images):
    model = make_cnn("separate")
    acts = [layer for layer in leaf_layers(model) if layer.name.endswith("_act")]
    before = [layer.activation for layer in acts]
    probs = np.asarray(model(tiny_images[0][:2].astype(np.float32)))
    with guided_activations(model) as wrapped:
        assert wrapped == {"relu": 2}
        assert all(layer.activation is not old for layer, old in zip(acts, before))
        np.testing.assert_allclose(np.asarray(model(tiny_images[0][:2].astype(np.float32))), probs, rtol=1e-6)
    assert [layer.activation for layer in acts] == before
    relu_model = make_cnn("relu_layer")
    with guided_activations(relu_model):
        pass
    assert all("call" not in vars(layer) for layer in leaf_layers(relu_model))


def test_choose_neurons_takes_most_active_channels_at_their_peak():
    fmap = np.zeros((3, 4, 5), np.float32)
    fmap[1, 2, 0] = 5.0
    fmap[0, 3, 3] = 7.0
    fmap[2, 0, 1] = 1.0
    fmap[2, 1, 1] = 2.0
    channels, positions, values = choose_neurons(fmap, 3)
    assert channels == [3, 0, 1]
    assert positions == [(0, 3), (1, 2), (2, 1)]
    assert values == [7.0, 5.0, 2.0]
    assert choose_neurons(fmap, 99)[0][3:] == [2, 4]  # ties broken by channel index, capped at c


def test_explicit_layer_and_bad_layer_name(make_cnn, tiny_images):
    model = make_cnn("nested")
    result = guided_backprop(model, tiny_images[0][0], layer="block1_act", neurons=4)
    assert result.layer == "block1_act" and len(result.channels) == 4
    with pytest.raises(UserError) as err:
        guided_backprop(model, tiny_images[0][0], layer="block9_act")
    message = str(err.value)
    assert "block9_act" in message and "block1_act" in message and "block2_conv" in message
    with pytest.raises(UserError, match="not a \\(h, w, channels\\) feature map"):
        find_layer(model, "predictions")
