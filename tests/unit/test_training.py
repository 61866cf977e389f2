"""What both trainers share: EMA, the recording sampler, the schedule, checkpoints and resuming."""

import itertools
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from pipeline.errors import PipelineError
from pipeline.generator.dit import DiT
from pipeline.training import checkpoint as checkpoints
from pipeline.training.checkpoint import Checkpoint
from pipeline.training.ema import EMA, ema_decay
from pipeline.training.loop import NonFiniteLossError, check_finite
from pipeline.training.sampler import RecordingSampler, class_histogram
from pipeline.training.schedule import lr_at
from tests.conftest import tiny_dit

SMALL = tiny_dit()


def test_ema_decay_warmup_formula() -> None:
    assert ema_decay(0, 0.9999) == 0.1
    assert ema_decay(90, 0.9999) == 0.91
    assert ema_decay(90, 0.9) == 0.9
    assert ema_decay(10**9, 0.9999) == 0.9999


def test_ema_update_moves_the_average_toward_the_live_weights() -> None:
    torch.manual_seed(0)
    model = nn.Linear(3, 3)
    ema = EMA(model, decay=0.75)
    before = {name: p.clone() for name, p in ema.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model, step=10**6)  # past the warm-up: the decay is 0.75
    live = dict(model.named_parameters())
    for name, average in ema.state_dict().items():
        torch.testing.assert_close(average, 0.75 * before[name] + 0.25 * live[name].detach())


def test_ema_at_step_zero_is_mostly_the_live_weights() -> None:
    model = nn.Linear(2, 2)
    ema = EMA(model, decay=0.999)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model, step=0)  # the warm-up's decay at step 0: 0.1
    torch.testing.assert_close(ema.state_dict()["weight"], 0.1 * start + 0.9)


def test_ema_swapped_in_for_an_evaluation_then_the_raw_weights_come_back() -> None:
    model = nn.Linear(2, 2)
    ema = EMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.fill_(4.0)
        model.bias.fill_(4.0)
    ema.update(model, step=10**6)
    raw = {name: p.clone() for name, p in model.state_dict().items()}
    with ema.applied_to(model):
        assert torch.equal(model.weight, ema.state_dict()["weight"])
        assert not torch.equal(model.weight, raw["weight"])
    assert all(torch.equal(p, raw[name]) for name, p in model.state_dict().items())
    with pytest.raises(RuntimeError, match="inside"), ema.applied_to(model):
        raise RuntimeError("inside")
    assert all(torch.equal(p, raw[name]) for name, p in model.state_dict().items())
    ema.copy_to(model)
    assert torch.equal(model.weight, ema.state_dict()["weight"])


def test_lr_schedule_warmup_and_cosine_endpoints() -> None:
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


def test_lr_schedule_without_warmup_starts_at_base_lr() -> None:
    assert lr_at(0, base_lr=2.0, warmup_steps=0, total_steps=10, min_lr=0.0) == 2.0
    with pytest.raises(ValueError, match="warmup_steps"):
        lr_at(0, base_lr=1.0, warmup_steps=20, total_steps=10, min_lr=0.0)


def test_check_finite_raises_non_finite_loss_error() -> None:
    check_finite(torch.tensor(1.5), step=3)
    with pytest.raises(NonFiniteLossError, match="step 7; the last good checkpoint is kept"):
        check_finite(torch.tensor(float("nan")), step=7)
    assert issubclass(NonFiniteLossError, PipelineError)


def test_balanced_draws_even_out_an_imbalanced_set_and_every_draw_is_recorded() -> None:
    labels = np.array([0] * 90 + [1] * 10)
    for balanced, expected_share in ((True, 0.5), (False, 0.9)):
        sampler = RecordingSampler(labels, 64, balanced, torch.Generator().manual_seed(0), 100)
        drawn = torch.stack([sampler.draw(step) for step in range(100)])
        assert torch.equal(sampler.drawn, drawn.to(torch.int32))
        histogram = class_histogram(labels, sampler.drawn.numpy(), ("many", "few"))
        assert histogram["many"][0] / drawn.numel() == pytest.approx(expected_share, abs=0.03)
        assert histogram["few"][1] == 10


def state(step: int, finished: bool, identity: str = "same") -> Checkpoint:
    torch.manual_seed(0)
    model = DiT(SMALL)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95))
    x = torch.randn(2, 3, 8, 8)
    (model(x, torch.rand(2), torch.tensor([0, 1])) - x).square().mean().backward()
    optimizer.step()
    generator = torch.Generator().manual_seed(42)
    torch.randn(5, generator=generator)
    return Checkpoint(
        identity=identity,
        step=step,
        finished=finished,
        model=model.state_dict(),
        ema=EMA(model, 0.9).state_dict(),
        optimizer=optimizer.state_dict(),
        generator=generator.get_state(),
        history={"loss": [0.5, 0.25]},
        drawn=torch.zeros(step, 4, dtype=torch.int32),
        train_seconds=1.5,
    )


def test_checkpoint_round_trip_restores_weights_optimizer_and_random_stream(
    tmp_path: Path,
) -> None:
    saved = state(step=17, finished=False)
    saved.save(tmp_path / "ckpt" / "last.pt")
    loaded = Checkpoint.load(tmp_path / "ckpt" / "last.pt")
    model = DiT(SMALL)
    model.load_state_dict(loaded.model)
    assert all(torch.equal(a, saved.model[k]) for k, a in model.state_dict().items())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    optimizer.load_state_dict(loaded.optimizer)
    assert optimizer.state_dict()["param_groups"][0]["betas"] == (0.9, 0.95)
    resumed, original = torch.Generator(), torch.Generator()
    resumed.set_state(loaded.generator)
    original.set_state(saved.generator)
    assert torch.equal(torch.rand(3, generator=resumed), torch.rand(3, generator=original))
    assert loaded.step == 17 and loaded.train_seconds == 1.5
    assert loaded.history == {"loss": [0.5, 0.25]}  # plain floats: none rounded on the way


def test_checkpoint_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "last.pt"
    state(step=1, finished=False).save(path)
    before = path.read_bytes()

    def failing_save(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints.torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        state(step=2, finished=False).save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    assert Checkpoint.load(path).step == 1


@pytest.mark.parametrize(
    ("saved", "resumed", "message"),
    [
        (state(step=5, finished=False), True, "resuming from step 5"),
        (state(step=9, finished=True), False, "a finished run; training anew from step 0"),
        (state(step=5, finished=False, identity="other"), False, "of other code, params or data"),
    ],
)
def test_only_an_unfinished_run_of_the_same_inputs_is_resumed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, saved: Checkpoint, resumed: bool, message: str
) -> None:
    path = tmp_path / "last.pt"
    saved.save(path)
    with caplog.at_level("INFO"):
        found = Checkpoint.resumable(path, "same")
    assert (found is not None) == resumed
    assert message in caplog.text


def test_a_checkpoint_holding_code_is_not_loaded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "last.pt"
    torch.save({"identity": "same", "payload": Exploit()}, path, pickle_module=pickle)
    with caplog.at_level("INFO"):
        assert Checkpoint.resumable(path, "same") is None
    assert "unreadable" in caplog.text and "training from step 0" in caplog.text
    assert Checkpoint.resumable(tmp_path / "absent.pt", "same") is None
