"""One picture of a class for the synthetic dataset: the class's own hue, shape and texture on a random
low-saturation noisy background, with position, size, colour jitter and aspect ratio varying per image.

Colour alone separates the classes, so a tiny CNN at 32 px learns it in a couple of epochs; shape and
texture add harder cues. ``synth`` writes a dataset of these, ``bad_files`` spoils some of them.
"""

from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("ellipse", "rectangle", "triangle", "diamond")
TEXTURES = ("solid", "stripes", "checks")


def _rgb(hue: float, sat: float, val: float) -> tuple[int, int, int]:
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue % 1.0, sat, val))


def _background(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    base = np.array(_rgb(rng.random(), rng.uniform(0, 0.2), rng.uniform(0.2, 0.6)), dtype=np.float32)
    coarse = rng.normal(0, 25, size=(max(2, h // 16), max(2, w // 16), 3)).astype(np.float32)
    blotches = np.asarray(Image.fromarray(np.clip(coarse + 128, 0, 255).astype(np.uint8)).resize((w, h)), np.float32)
    pixels = rng.standard_normal((h, w, 3), dtype=np.float32)
    pixels *= 8
    pixels += blotches
    pixels += base - 128
    return Image.fromarray(np.clip(pixels, 0, 255, out=pixels).astype(np.uint8))


def _shape_polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    corners = {"triangle": 3, "diamond": 4, "rectangle": 4}[shape]
    offset = angle + (np.pi / 4 if shape == "rectangle" else 0.0)
    return [(cx + r * np.cos(offset + 2 * np.pi * k / corners), cy + r * np.sin(offset + 2 * np.pi * k / corners))
            for k in range(corners)]  # fmt: skip


def _texture(texture: str, size: tuple[int, int], colour, rng: np.random.Generator) -> Image.Image:
    fill = Image.new("RGB", size, colour)
    if texture == "solid":
        return fill
    dark = tuple(int(c * 0.35) for c in colour)
    period = max(4, int(min(size) / rng.uniform(6, 10)))
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
    if texture == "stripes":
        on = ((xx + yy) // period) % 2 == 0
    else:
        on = ((xx // period) + (yy // period)) % 2 == 0
    arr = np.where(on[..., None], np.array(colour, np.uint8), np.array(dark, np.uint8))
    return Image.fromarray(arr.astype(np.uint8))


def draw_example(label: int, classes: int, rng: np.random.Generator, min_side: int, max_side: int) -> Image.Image:
    """One RGB image of class ``label``: class hue/shape/texture on a random background."""
    w, h = (int(v) for v in rng.integers(min_side, max_side + 1, size=2))
    img = _background(rng, w, h)
    shape, texture = SHAPES[label % len(SHAPES)], TEXTURES[(label // len(SHAPES)) % len(TEXTURES)]
    colour = _rgb(label / classes + rng.normal(0, 0.08 / classes), rng.uniform(0.7, 1.0), rng.uniform(0.75, 1.0))
    r = rng.uniform(0.32, 0.46) * min(w, h)
    cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    if shape == "ellipse":
        squash = rng.uniform(0.6, 1.0)
        draw.ellipse((cx - r, cy - r * squash, cx + r, cy + r * squash), fill=255)
    else:
        draw.polygon(_shape_polygon(shape, cx, cy, r, rng.uniform(-0.3, 0.3)), fill=255)
    img.paste(_texture(texture, (w, h), colour, rng), (0, 0), mask)
    return img
