"""Tests for rectified-flow training loss and samplers."""

import pytest
import torch

from pipeline.generator.dit import DiT
from pipeline.generator.flow import (
    draw,
    euler,
    flow_matching_loss,
    heun,
    sample_time,
    solve,
    time_grid,
)
from pipeline.generator.sampling import Guidance, SampleParams, torch_velocity
from pipeline.schema import SchemaError
from tests.conftest import tiny_dit

SMALL = tiny_dit(width=16, depth=1)


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


def _loss(model, x1, y, seed, time_mode="uniform", label_dropout=0.1):
    drawn = draw(tuple(x1.shape), time_mode, label_dropout, torch.Generator().manual_seed(seed))
    return flow_matching_loss(model, x1, y, drawn, SMALL.num_classes)


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


def test_noisy_images_run_from_noise_at_t0_to_data_at_t1():
    """x_t = (1 - t) x0 + t x1: a swap of noise and data fails here."""
    seen = {}

    def spy(x_t, t, y):
        seen["x_t"], seen["t"] = x_t, t
        return torch.zeros_like(x_t)

    x1, y = _batch()
    drawn = draw(tuple(x1.shape), "uniform", 0.0, torch.Generator().manual_seed(5))
    drawn = type(drawn)(drawn.noise, torch.tensor([0.0, 0.25, 0.9, 1.0]), drawn.drop)
    flow_matching_loss(spy, x1, y, drawn, SMALL.num_classes)
    torch.testing.assert_close(seen["x_t"][0], drawn.noise[0])
    torch.testing.assert_close(seen["x_t"][3], x1[3])
    torch.testing.assert_close(seen["x_t"][1], 0.75 * drawn.noise[1] + 0.25 * x1[1])
    torch.testing.assert_close(seen["x_t"][2], 0.1 * drawn.noise[2] + 0.9 * x1[2])


def test_a_shard_of_a_draw_is_that_part_of_the_batch():
    drawn = draw((6, 3, 8, 8), "logit_normal", 0.5, torch.Generator().manual_seed(0))
    part = drawn.shard(slice(2, 4))
    assert torch.equal(part.noise, drawn.noise[2:4]) and torch.equal(part.t, drawn.t[2:4])
    assert torch.equal(part.drop, drawn.drop[2:4])


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
    out = euler(lambda x, t: velocity, noise, time_grid(4))
    torch.testing.assert_close(out, noise + velocity)


def test_euler_one_step_reaches_the_data_point_on_the_straight_path():
    x0 = torch.randn(1, 3, 8, 8)
    x1 = torch.randn(1, 3, 8, 8)

    def true_velocity(x, t):
        # For a single data point the marginal velocity is (x1 - x) / (1 - t)
        return (x1 - x) / (1 - t.view(-1, 1, 1, 1))

    torch.testing.assert_close(euler(true_velocity, x0, time_grid(1)), x1)
    torch.testing.assert_close(euler(true_velocity, x0, time_grid(5)), x1)


def test_velocity_fn_gets_per_sample_times_from_zero_to_one():
    times = []

    def record(x, t):
        times.append(t.clone())
        return torch.zeros_like(x)

    euler(record, torch.zeros(3, 1), time_grid(4))
    assert [t.tolist() for t in times] == [[v] * 3 for v in (0.0, 0.25, 0.5, 0.75)]
    times.clear()
    heun(record, torch.zeros(3, 1), time_grid(2))
    assert [t[0].item() for t in times] == [0.0, 0.5, 0.5, 1.0]


def test_heun_is_exact_for_velocity_linear_in_time():
    noise = torch.randn(2, 4)
    # v = a + b t integrates exactly to x0 + a + b / 2 under the trapezoidal rule
    a, b = torch.randn(2, 4), torch.randn(2, 4)
    out = heun(lambda x, t: a + b * t.view(-1, 1), noise, time_grid(1))
    torch.testing.assert_close(out, noise + a + b / 2)


def test_heun_beats_euler_on_a_curved_path():
    noise = torch.ones(1, 1)

    def v(x, t):
        return x  # dx/dt = x, exact x(1) = e

    exact = torch.exp(torch.ones(1, 1))
    euler_err = (euler(v, noise, time_grid(4)) - exact).abs().item()
    heun_err = (heun(v, noise, time_grid(4)) - exact).abs().item()
    assert heun_err < euler_err / 5


def test_solve_dispatches_and_rejects_unknown_solvers():
    noise = torch.randn(2, 3)
    velocity = torch.randn(2, 3)
    for solver in ("euler", "heun"):
        out = solve(lambda x, t: velocity, noise, 3, solver)
        torch.testing.assert_close(out, noise + velocity)
    with pytest.raises(ValueError, match="rk4"):
        solve(lambda x, t: velocity, noise, 3, "rk4")
    with pytest.raises(ValueError, match="steps"):
        solve(lambda x, t: velocity, noise, 0, "euler")


def test_the_time_grid_runs_from_noise_to_data_and_a_shift_crowds_the_noise_end() -> None:
    assert time_grid(4) == [0.0, 0.25, 0.5, 0.75, 1.0]
    shifted = time_grid(4, shift=3.0)
    assert shifted[0] == 0.0 and shifted[-1] == 1.0 and shifted == sorted(shifted)
    assert shifted[1] == pytest.approx(0.25 / (1 + 2 * 0.75))  # 0.1: a short first step
    torch.testing.assert_close(
        euler(lambda x, t: torch.ones_like(x), torch.zeros(2, 1), shifted), torch.ones(2, 1)
    )


def test_torch_velocity_matches_forward_with_cfg():
    model = _model().eval()
    x = torch.randn(2, 3, 8, 8)
    t = torch.tensor([0.2, 0.7])
    labels = torch.tensor([0, 2])
    fn = torch_velocity(model, labels, Guidance(2.5))
    expected = model.forward_with_cfg(x, t, labels, torch.full((2,), 2.5))
    torch.testing.assert_close(fn(x, t), expected)
    out = solve(fn, torch.randn(2, 3, 8, 8), steps=2, solver="heun")
    assert out.shape == (2, 3, 8, 8)
    assert torch.isfinite(out).all()


def test_guidance_outside_its_interval_is_the_plain_conditional_velocity() -> None:
    model = _model().eval()
    x, labels = torch.randn(2, 3, 8, 8), torch.tensor([0, 2])
    late = torch_velocity(model, labels, Guidance(4.0, (0.5, 1.0)))
    early, inside = torch.full((2,), 0.2), torch.full((2,), 0.7)
    torch.testing.assert_close(late(x, early), model(x, early, labels))
    expected = model.forward_with_cfg(x, inside, labels, torch.full((2,), 4.0))
    torch.testing.assert_close(late(x, inside), expected)


def test_a_guidance_interval_that_is_not_low_then_high_is_refused() -> None:
    with pytest.raises(SchemaError, match=r"sample.guidance_interval is \[0.8, 0.2\]"):
        SampleParams("euler", 20, 4.0, (0.8, 0.2), 1.0, 8, 0)
