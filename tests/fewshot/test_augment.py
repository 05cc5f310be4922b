"""fewshot.augment: identity when off, the pixels each option changes (against naive per-image
code), same generator -> same pixels. (It replaced pre-training's engine/batch_augment.py after a
test showed identical pixels for flip and crop_flip, commit 6391753.)"""

import pytest
import torch

from fewshot.augment import PRESETS, Augment, augment


def images(b=6, c=3, h=16, w=16, seed=0):
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_disabled_is_the_identity_and_draws_nothing():
    x, g = images(), gen()
    state = g.get_state()
    for spec in (None, "none", {}, Augment(), {"flip": 0.0, "brightness": 0.0}):
        assert augment(x, spec, g) is x
    assert torch.equal(g.get_state(), state)


@pytest.mark.parametrize("preset", [p for p in PRESETS if p != "none"])
def test_same_generator_same_pixels(preset):
    x = images(8)
    a, b, c = augment(x, preset, gen(1)), augment(x, preset, gen(1)), augment(x, preset, gen(2))
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, x)
    g = gen(5)
    first = augment(x, preset, g)
    assert not torch.equal(augment(x, preset, g), first)  # the generator moved on


def test_flip_only_mirrors_whole_images():
    x = images(32)
    out = augment(x, {"flip": 0.5}, gen())
    flipped = [torch.equal(o, xi.flip(2)) for o, xi in zip(out, x)]
    kept = [torch.equal(o, xi) for o, xi in zip(out, x)]
    assert all(f != k for f, k in zip(flipped, kept)) and 0 < sum(flipped) < 32
    assert torch.equal(augment(x, {"flip": 1.0}, gen()), x.flip(3))


def test_crop_zooms_by_the_drawn_area():
    # A horizontal ramp stays a ramp; cropping a quarter of the area (half the side) halves its slope.
    w = 32
    ramp = torch.linspace(0, 1, w).expand(4, 1, w, w).clone()
    out = augment(ramp, {"crop": True, "scale": (0.25, 0.25), "ratio": (1.0, 1.0)}, gen())
    slope = (out[..., 1:] - out[..., :-1])
    torch.testing.assert_close(slope, torch.full_like(slope, 0.5 / (w - 1)), rtol=0, atol=1e-5)
    full = augment(ramp, {"crop": True, "scale": (1.0, 1.0), "ratio": (1.0, 1.0)}, gen())
    torch.testing.assert_close(full, ramp, rtol=0, atol=1e-5)  # the whole image: unchanged


def naive_jitter(x, brightness, contrast, saturation, g):
    """Per image, in the documented draw order, torchvision's blend formulas."""
    n = len(x)

    def draw(v):  # U(max(0, 1 - v), 1 + v), as ColorJitter
        low = max(0.0, 1 - v)
        return low + ((1 + v) - low) * torch.rand(n, generator=g, dtype=torch.float64)

    fb = draw(brightness) if brightness else None
    fc = draw(contrast) if contrast else None
    fs = draw(saturation) if saturation else None
    out = []
    for i, img in enumerate(x):
        img = img.clone()
        if fb is not None:
            img = (img * float(fb[i])).clamp(0, 1)
        grey = 0.2989 * img[0] + 0.587 * img[1] + 0.114 * img[2]
        if fc is not None:
            img = (float(fc[i]) * img + (1 - float(fc[i])) * grey.mean()).clamp(0, 1)
            grey = 0.2989 * img[0] + 0.587 * img[1] + 0.114 * img[2]
        if fs is not None:
            img = (float(fs[i]) * img + (1 - float(fs[i])) * grey).clamp(0, 1)
        out.append(img)
    return torch.stack(out)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("b, c, s", [(0.4, 0, 0), (0, 0.4, 0), (0, 0, 0.4), (0.4, 0.4, 0.4), (1.5, 0, 0.9)])
def test_colour_jitter_against_naive(dtype, b, c, s):
    x = images(5).to(dtype)
    out = augment(x, {"brightness": b, "contrast": c, "saturation": s}, gen(7))
    torch.testing.assert_close(out, naive_jitter(x, b, c, s, gen(7)))
    assert not torch.equal(out, x) and out.min() >= 0 and out.max() <= 1


def test_saturation_leaves_grey_images_and_jitter_works_on_normalised_input():
    grey = images(4, c=1)
    assert torch.equal(augment(grey, {"saturation": 0.9}, gen()), grey)
    x = images(4)
    mean, std = torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1), torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    spec = PRESETS["crop_flip_jitter"]
    torch.testing.assert_close(augment((x - mean) / std, spec, gen(2), mean, std),
                               (augment(x, spec, gen(2)) - mean) / std)
    with pytest.raises(ValueError, match="both mean and std"):
        augment(x, spec, gen(), mean=mean)


@pytest.mark.parametrize("spec, match", [
    ("crop_flop", r"train.augment_support must be one of none, flip, crop_flip, crop_flip_jitter"),
    ({"flipp": 0.5}, r"unknown keys \['flipp'\]; valid: crop, scale, ratio, flip"),
    ({"flip": 2}, r"flip is a probability"),
    ({"scale": (0.5, 0.2)}, r"scale must be two numbers"),
    ({"scale": (0.5, 1.5)}, r"scale must be within"),
    ({"contrast": -1}, r"contrast must be >= 0"),
    ({"crop": "yes"}, r"crop must be true or false"),
    (3, r"preset name"),
])
def test_parse_errors_name_the_option(spec, match):
    with pytest.raises(ValueError, match=match):
        Augment.parse(spec, "train.augment_support")
