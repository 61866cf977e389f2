"""Tests for EMA, learning-rate schedule and checkpoints."""

import copy
import itertools
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from pipeline import training
from pipeline.dit import DiT, DiTConfig
from pipeline.training import (
    NonFiniteLossError,
    check_finite,
    ema_decay,
    load_checkpoint,
    lr_at,
    restore_rng_states,
    save_checkpoint,
    update_ema,
)

SMALL = DiTConfig(image_size=8, patch_size=4, width=16, depth=1, heads=2, num_classes=3)


def test_ema_decay_warmup_formula():
    assert ema_decay(0, 0.9999) == 0.1
    assert ema_decay(90, 0.9999) == 0.91
    assert ema_decay(90, 0.9) == 0.9
    assert ema_decay(10**9, 0.9999) == 0.9999


def test_update_ema_moves_toward_live_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    ema = copy.deepcopy(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model[1].running_mean.fill_(5.0)
    before = [p.clone() for p in ema.parameters()]
    update_ema(ema, model, decay=0.75)
    for old, new, live in zip(before, ema.parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(new, 0.75 * old + 0.25 * live)
    assert torch.equal(ema[1].running_mean, model[1].running_mean)


def test_update_ema_decay_zero_copies_and_one_freezes():
    model, ema = nn.Linear(2, 2), nn.Linear(2, 2)
    frozen = copy.deepcopy(ema.state_dict())
    update_ema(ema, model, decay=1.0)
    assert all(torch.equal(frozen[k], v) for k, v in ema.state_dict().items())
    update_ema(ema, model, decay=0.0)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in ema.state_dict().items())


def test_lr_schedule_warmup_and_cosine_endpoints():
    kw = dict(base_lr=1e-3, warmup_steps=10, total_steps=110, min_lr=1e-5)
    assert lr_at(0, **kw) == pytest.approx(1e-4)
    assert lr_at(4, **kw) == pytest.approx(5e-4)
    assert lr_at(9, **kw) == pytest.approx(1e-3)
    assert lr_at(10, **kw) == pytest.approx(1e-3)
    assert lr_at(60, **kw) == pytest.approx((1e-3 + 1e-5) / 2)
    assert lr_at(110, **kw) == pytest.approx(1e-5)
    assert lr_at(10_000, **kw) == 1e-5
    lrs = [lr_at(s, **kw) for s in range(10, 111)]
    assert all(a >= b for a, b in itertools.pairwise(lrs))


def test_lr_schedule_without_warmup_starts_at_base_lr():
    assert lr_at(0, base_lr=2.0, warmup_steps=0, total_steps=10, min_lr=0.0) == 2.0
    with pytest.raises(ValueError, match="warmup_steps"):
        lr_at(0, base_lr=1.0, warmup_steps=20, total_steps=10, min_lr=0.0)


def test_check_finite_raises_non_finite_loss_error():
    check_finite(torch.tensor(1.5), step=3)
    with pytest.raises(NonFiniteLossError, match="step 7"):
        check_finite(torch.tensor(float("nan")), step=7)
    assert issubclass(NonFiniteLossError, RuntimeError)


def _trained_state():
    torch.manual_seed(0)
    model = DiT(SMALL)
    ema = copy.deepcopy(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95))
    x = torch.randn(2, 3, 8, 8)
    (model(x, torch.rand(2), torch.tensor([0, 1])) - x).square().mean().backward()
    optimizer.step()
    update_ema(ema, model, 0.5)
    return model, ema, optimizer


def test_checkpoint_roundtrip_weights_only(tmp_path):
    model, ema, optimizer = _trained_state()
    generator = torch.Generator().manual_seed(42)
    torch.randn(5, generator=generator)
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    np.random.randn()  # leaves a cached Gaussian in numpy's state

    path = save_checkpoint(
        tmp_path / "ckpt" / "last.pt",
        model=model,
        ema=ema,
        optimizer=optimizer,
        step=17,
        extra={"config": SMALL.to_dict(), "loss": 0.25, "history": [1, 2.5, None]},
        generator=generator,
    )

    def draw() -> tuple:
        """One draw from every random source a checkpoint must restore."""
        return (
            torch.rand(3),
            np.random.rand(3),
            np.random.randn(),
            random.random(),
            torch.rand(3, generator=generator),
        )

    expected = draw()

    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    generator.manual_seed(99)
    ckpt = load_checkpoint(path)  # weights_only=True inside
    restore_rng_states(ckpt, generator)
    actual = draw()
    assert torch.equal(actual[0], expected[0])
    assert np.array_equal(actual[1], expected[1])
    assert actual[2] == expected[2]
    assert actual[3] == expected[3]
    assert torch.equal(actual[4], expected[4])

    assert ckpt["step"] == 17
    assert ckpt["extra"] == {"config": SMALL.to_dict(), "loss": 0.25, "history": [1, 2.5, None]}
    restored = DiT(DiTConfig.from_dict(ckpt["extra"]["config"]))
    restored.load_state_dict(ckpt["model"])
    restored_ema = DiT(SMALL)
    restored_ema.load_state_dict(ckpt["ema"])
    for a, b in zip(restored.parameters(), model.parameters(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(restored_ema.parameters(), ema.parameters(), strict=True):
        assert torch.equal(a, b)
    restored_opt = torch.optim.AdamW(restored.parameters(), lr=1e-3)
    restored_opt.load_state_dict(ckpt["optimizer"])
    assert restored_opt.state_dict()["param_groups"][0]["betas"] == (0.9, 0.95)
    assert torch.equal(
        restored_opt.state_dict()["state"][0]["exp_avg"],
        optimizer.state_dict()["state"][0]["exp_avg"],
    )


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    model, ema, optimizer = _trained_state()
    path = tmp_path / "last.pt"
    save_checkpoint(path, model=model, ema=ema, optimizer=optimizer, step=1, extra={})
    before = path.read_bytes()

    def failing_save(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(training.torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model=model, ema=ema, optimizer=optimizer, step=2, extra={})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    assert load_checkpoint(path)["step"] == 1


def test_checkpoint_rejects_extra_that_weights_only_cannot_load(tmp_path):
    model, ema, optimizer = _trained_state()
    with pytest.raises(TypeError, match=r"extra\['when'\]"):
        save_checkpoint(
            tmp_path / "c.pt",
            model=model,
            ema=ema,
            optimizer=optimizer,
            step=0,
            extra={"when": object()},
        )
    assert not any(tmp_path.iterdir())


def test_restoring_a_generator_needs_a_saved_one(tmp_path):
    model, ema, optimizer = _trained_state()
    path = save_checkpoint(
        tmp_path / "c.pt", model=model, ema=ema, optimizer=optimizer, step=0, extra={}
    )
    with pytest.raises(KeyError, match="generator"):
        restore_rng_states(load_checkpoint(path), torch.Generator())
