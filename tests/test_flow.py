"""Tests for rectified-flow training loss and samplers."""

import pytest
import torch

from pipeline.dit import DiT, DiTConfig
from pipeline.flow import (
    cfg_velocity_fn,
    euler_sample,
    flow_matching_loss,
    heun_sample,
    sample,
    sample_time,
)

SMALL = DiTConfig(image_size=8, patch_size=4, width=16, depth=1, heads=2, num_classes=3)


def _model(seed: int = 0) -> DiT:
    torch.manual_seed(seed)
    model = DiT(SMALL)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.05)
    return model


def _batch(n: int = 4):
    g = torch.Generator().manual_seed(123)
    x1 = torch.randn(n, 3, 8, 8, generator=g)
    y = torch.randint(0, SMALL.num_classes, (n,), generator=g)
    return x1, y


def _loss(model, x1, y, seed, **overrides):
    kwargs = dict(time_mode="uniform", label_dropout=0.1, null_class=SMALL.num_classes)
    kwargs.update(overrides)
    return flow_matching_loss(model, x1, y, generator=torch.Generator().manual_seed(seed), **kwargs)


@pytest.mark.parametrize("mode", ["uniform", "logit_normal"])
def test_time_sampling_modes_in_unit_interval(mode):
    t = sample_time(10_000, mode, torch.Generator().manual_seed(0))
    assert t.shape == (10_000,)
    assert t.dtype == torch.float32
    assert ((t >= 0) & (t <= 1)).all()
    assert abs(t.mean().item() - 0.5) < 0.02


def test_logit_normal_concentrates_in_the_middle():
    g = torch.Generator().manual_seed(0)
    uniform = sample_time(10_000, "uniform", g)
    logit_normal = sample_time(10_000, "logit_normal", g)
    assert logit_normal.std() < uniform.std()


def test_unknown_time_mode_is_rejected():
    with pytest.raises(ValueError, match="beta"):
        sample_time(4, "beta", torch.Generator())


def test_loss_deterministic_for_seed():
    model = _model()
    x1, y = _batch()
    assert torch.equal(_loss(model, x1, y, seed=7), _loss(model, x1, y, seed=7))
    assert not torch.equal(_loss(model, x1, y, seed=7), _loss(model, x1, y, seed=8))


def test_loss_does_not_touch_the_global_rng():
    model = _model()
    x1, y = _batch()
    torch.manual_seed(0)
    _loss(model, x1, y, seed=7)
    after = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(3))


def test_loss_targets_straight_path_velocity():
    captured = {}

    def oracle(x_t, t, y):
        captured["t"], captured["y"] = t, y
        return torch.zeros_like(x_t)

    x1, y = _batch()
    loss = _loss(oracle, x1, y, seed=3, label_dropout=0.0)
    # Replay the same draws: noise first, then times
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(x1.shape, generator=g)
    assert torch.equal(captured["t"], torch.rand(4, generator=g))
    assert torch.equal(captured["y"], y)
    torch.testing.assert_close(loss, (x1 - x0).square().mean())


def test_loss_is_zero_for_the_true_velocity():
    x1, y = _batch(1)
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(x1.shape, generator=g)

    def oracle(x_t, t, y):
        return (x1 - x0).expand_as(x_t)

    assert _loss(oracle, x1, y, seed=3) == 0


def test_label_dropout_one_uses_only_the_null_class():
    seen = []

    def spy(x_t, t, y):
        seen.append(y)
        return x_t

    x1, y = _batch()
    _loss(spy, x1, y, seed=0, label_dropout=1.0)
    assert (seen[0] == SMALL.num_classes).all()


def test_loss_backpropagates_into_the_model():
    model = _model()
    x1, y = _batch()
    _loss(model, x1, y, seed=0, time_mode="logit_normal").backward()
    assert all(p.grad is not None for p in model.parameters())


def test_euler_exact_for_constant_velocity():
    noise = torch.randn(2, 3, 8, 8)
    velocity = torch.randn(2, 3, 8, 8)
    out = euler_sample(lambda x, t: velocity, noise, steps=4)
    torch.testing.assert_close(out, noise + velocity)


def test_euler_one_step_reaches_the_data_point_on_the_straight_path():
    x0 = torch.randn(1, 3, 8, 8)
    x1 = torch.randn(1, 3, 8, 8)

    def true_velocity(x, t):
        # For a single data point the marginal velocity is (x1 - x) / (1 - t)
        return (x1 - x) / (1 - t.view(-1, 1, 1, 1))

    torch.testing.assert_close(euler_sample(true_velocity, x0, steps=1), x1)
    torch.testing.assert_close(euler_sample(true_velocity, x0, steps=5), x1)


def test_velocity_fn_gets_per_sample_times_from_zero_to_one():
    times = []

    def record(x, t):
        times.append(t.clone())
        return torch.zeros_like(x)

    euler_sample(record, torch.zeros(3, 1), steps=4)
    assert [t.tolist() for t in times] == [[v] * 3 for v in (0.0, 0.25, 0.5, 0.75)]
    times.clear()
    heun_sample(record, torch.zeros(3, 1), steps=2)
    assert [t[0].item() for t in times] == [0.0, 0.5, 0.5, 1.0]


def test_heun_is_exact_for_velocity_linear_in_time():
    noise = torch.randn(2, 4)
    # v = a + b t integrates exactly to x0 + a + b / 2 under the trapezoidal rule
    a, b = torch.randn(2, 4), torch.randn(2, 4)
    out = heun_sample(lambda x, t: a + b * t.view(-1, 1), noise, steps=1)
    torch.testing.assert_close(out, noise + a + b / 2)


def test_heun_beats_euler_on_a_curved_path():
    noise = torch.ones(1, 1)

    def v(x, t):
        return x  # dx/dt = x, exact x(1) = e

    exact = torch.exp(torch.ones(1, 1))
    euler_err = (euler_sample(v, noise, 4) - exact).abs().item()
    heun_err = (heun_sample(v, noise, 4) - exact).abs().item()
    assert heun_err < euler_err / 5


def test_sample_dispatches_and_rejects_unknown_methods():
    noise = torch.randn(2, 3)
    velocity = torch.randn(2, 3)
    for method in ("euler", "heun"):
        out = sample(lambda x, t: velocity, noise, 3, method)
        torch.testing.assert_close(out, noise + velocity)
    with pytest.raises(ValueError, match="rk4"):
        sample(lambda x, t: velocity, noise, 3, "rk4")
    with pytest.raises(ValueError, match="steps"):
        euler_sample(lambda x, t: velocity, noise, 0)


def test_cfg_velocity_fn_matches_forward_with_cfg():
    model = _model().eval()
    x = torch.randn(2, 3, 8, 8)
    t = torch.tensor([0.2, 0.7])
    labels = torch.tensor([0, 2])
    fn = cfg_velocity_fn(model, labels, 2.5)
    expected = model.forward_with_cfg(x, t, labels, torch.full((2,), 2.5))
    torch.testing.assert_close(fn(x, t), expected)
    out = sample(fn, torch.randn(2, 3, 8, 8), steps=2, method="heun")
    assert out.shape == (2, 3, 8, 8)
    assert torch.isfinite(out).all()
