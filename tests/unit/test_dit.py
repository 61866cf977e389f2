"""Tests for the class-conditional DiT."""

import json
from dataclasses import asdict, replace

import pytest
import torch

from pipeline.generator.dit import DiT, DiTConfig, sincos_pos_embed_2d
from pipeline.generator.export import export_onnx
from pipeline.generator.graph import GeneratorInfo
from pipeline.generator.presets import PRESETS
from pipeline.runtime.models import read_info
from pipeline.schema import SchemaError, parse
from tests.conftest import tiny_dit

SMALL = tiny_dit(image_size=16, num_classes=5, heads=4)


def _randomised(config: DiTConfig = SMALL, seed: int = 0) -> DiT:
    """A DiT with every parameter random, so that no zero-init hides a bug."""
    torch.manual_seed(seed)
    model = DiT(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.05)
    return model


def _inputs(config: DiTConfig, n: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, config.channels, config.image_size, config.image_size, generator=g)
    t = torch.rand(n, generator=g)
    y = torch.randint(0, config.num_classes + 1, (n,), generator=g)
    return x, t, y


def test_forward_shapes():
    model = _randomised()
    x, t, y = _inputs(SMALL, 3)
    v = model(x, t, y)
    assert v.shape == x.shape
    assert v.dtype == torch.float32


def test_blocks_start_as_identity():
    torch.manual_seed(0)
    model = DiT(SMALL)
    x, t, y = _inputs(SMALL, 2)
    assert torch.count_nonzero(model(x, t, y)) == 0
    tokens = torch.randn(2, SMALL.num_patches, SMALL.width)
    c = torch.randn(2, SMALL.width)
    for block in model.blocks:
        assert torch.equal(block(tokens, c), tokens)


def test_fresh_model_still_gets_gradients():
    torch.manual_seed(0)
    model = DiT(SMALL)
    x, t, y = _inputs(SMALL, 2)
    (model(x, t, y) - x).square().mean().backward()
    assert model.final_layer.linear.weight.grad.abs().sum() > 0


def test_position_embedding_is_a_fixed_non_persistent_buffer():
    model = DiT(SMALL)
    assert "pos_embed" not in model.state_dict()
    assert model.pos_embed.shape == (1, SMALL.num_patches, SMALL.width)
    assert torch.equal(model.pos_embed[0], sincos_pos_embed_2d(SMALL.width, SMALL.grid_size))
    # Every token gets a distinct embedding
    assert torch.unique(model.pos_embed[0], dim=0).shape[0] == SMALL.num_patches


def test_state_dict_loads_into_a_model_built_from_the_same_config():
    model = _randomised()
    clone = DiT(parse(DiTConfig, json.loads(json.dumps(asdict(SMALL))), "config"))
    clone.load_state_dict(model.state_dict())
    x, t, y = _inputs(SMALL, 2)
    assert torch.equal(clone.eval()(x, t, y), model(x, t, y))


def test_labels_and_time_change_the_output():
    model = _randomised()
    x, t, y = _inputs(SMALL, 2)
    base = model(x, t, y)
    assert not torch.allclose(base, model(x, t, (y + 1) % SMALL.num_classes))
    assert not torch.allclose(base, model(x, 1 - t, y))


def test_cfg_scale_one_equals_conditional():
    model = _randomised()
    x, t, y = _inputs(SMALL, 3)
    y = y.clamp(max=SMALL.num_classes - 1)
    guided = model.forward_with_cfg(x, t, y, torch.ones(3))
    torch.testing.assert_close(guided, model(x, t, y), atol=1e-5, rtol=1e-5)


def test_cfg_scale_zero_equals_null():
    model = _randomised()
    x, t, y = _inputs(SMALL, 3)
    guided = model.forward_with_cfg(x, t, y, torch.zeros(3))
    null = torch.full_like(y, SMALL.num_classes)
    torch.testing.assert_close(guided, model(x, t, null), atol=1e-5, rtol=1e-5)


def test_cfg_scale_is_per_sample():
    model = _randomised()
    x, t, y = _inputs(SMALL, 2)
    scales = torch.tensor([0.0, 3.0])
    guided = model.forward_with_cfg(x, t, y, scales)
    v_cond, v_null = model(x, t, y), model(x, t, torch.full_like(y, SMALL.num_classes))
    torch.testing.assert_close(guided[0], v_null[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        guided[1], v_null[1] + 3.0 * (v_cond[1] - v_null[1]), atol=1e-5, rtol=1e-5
    )


def test_bf16_autocast_forward_runs():
    model = _randomised()
    x, t, y = _inputs(SMALL, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        v = model(x, t, y)
    assert v.shape == x.shape
    torch.testing.assert_close(v.float(), model(x, t, y), atol=0.1, rtol=0.1)


def test_onnx_export_dynamic_batch_parity(tmp_path):
    import onnxruntime as ort

    model = _randomised()
    path = tmp_path / "dit.onnx"
    export_onnx(model, tuple(f"c{i}" for i in range(SMALL.num_classes)), path, opset=17)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    info = read_info(GeneratorInfo, path)
    assert info.input_names == ("x", "t", "y", "guidance_scale")
    assert info.class_names == ("c0", "c1", "c2", "c3", "c4")
    assert (info.image_size, info.channels, info.null_class) == (16, 3, 5)
    assert info.value_range == (-1.0, 1.0) and info.layout == "NCHW"
    for n in (3, 5):
        x, t, y = _inputs(SMALL, n, seed=n)
        scale = torch.linspace(0.0, 4.0, n)
        expected = model.forward_with_cfg(x, t, y, scale).detach().numpy()
        (actual,) = session.run(
            None, {"x": x.numpy(), "t": t.numpy(), "y": y.numpy(), "guidance_scale": scale.numpy()}
        )
        assert actual.shape == expected.shape
        assert abs(actual - expected).max() < 1e-4


def test_config_json_round_trip() -> None:
    data = json.loads(json.dumps(asdict(SMALL)))
    assert parse(DiTConfig, data, "config") == SMALL


def test_config_with_an_unknown_key_is_refused_naming_it() -> None:
    with pytest.raises(SchemaError, match="dropout"):
        parse(DiTConfig, {**asdict(SMALL), "dropout": 0.1}, "config")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"image_size": 30}, r"image_size \(30\) must be divisible by patch_size \(4\)"),
        ({"width": 132, "heads": 8}, r"width \(132\) must be divisible by heads \(8\)"),
        ({"width": 66, "heads": 2}, r"width \(66\) must be divisible by 4"),
    ],
)
def test_config_that_cannot_be_built_names_the_fields(changes: dict, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        replace(SMALL, **changes)


def test_the_presets_build_models_of_their_size() -> None:
    sizes = {
        name: sum(
            p.numel() for p in DiT(DiTConfig.of(preset["train_dit.model"], 32, 10)).parameters()
        )
        for name, preset in PRESETS.items()
    }
    assert sizes["tiny"] < 100_000 < sizes["cpu-v2"] < 2_000_000 < 20_000_000 < sizes["gpu"]


def test_a_data_predicting_dit_gives_the_velocity_that_lands_on_its_clean_image():
    """With prediction: data the network's output is the clean image; what the DiT returns is
    the velocity that, from x_t over the time left, reaches exactly that image."""
    config = replace(SMALL, prediction="data")
    model = _randomised(config)
    x, t, y = _inputs(config, 4)
    t = t * 0.9  # the gap to the data end stays above its floor of 0.05
    velocity = model(x, t, y)
    model.config = replace(config, prediction="velocity")  # the same weights, the raw output
    clean = model(x, t, y)
    landed = x + (1 - t).view(-1, 1, 1, 1) * velocity
    torch.testing.assert_close(landed, clean, atol=1e-5, rtol=1e-5)


def test_a_fresh_data_predicting_dit_points_every_sample_at_zero():
    """Zero-initialised output layers predict a grey (zero) image: the velocity is -x_t/(1-t)."""
    model = DiT(replace(SMALL, prediction="data")).eval()
    x, t, y = _inputs(SMALL, 2)
    expected = -x / (1 - t).clamp(min=0.05).view(-1, 1, 1, 1)
    torch.testing.assert_close(model(x, t, y), expected)


def test_a_velocity_dit_narrower_than_its_patch_is_named_with_its_numbers(caplog):
    tiny_dit(image_size=64, patch_size=8, width=128)
    assert "a 8x8 patch holds 192 values but the width is 128" in caplog.text
    caplog.clear()
    tiny_dit(image_size=64, patch_size=8, width=128, prediction="data")
    tiny_dit(image_size=32, patch_size=4, width=128)  # 48 values: wide enough
    assert caplog.text == ""
