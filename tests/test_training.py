"""The pieces of the training loop: EMA, learning-rate schedule, checkpoints and resuming."""

import copy
import itertools
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from pipeline.errors import PipelineError
from pipeline.generator import training
from pipeline.generator.dit import DiT, DiTConfig
from pipeline.generator.training import (
    NonFiniteLossError,
    check_finite,
    ema_decay,
    load_checkpoint,
    lr_at,
    resumable,
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
    with pytest.raises(NonFiniteLossError, match="step 7; the last good checkpoint is kept"):
        check_finite(torch.tensor(float("nan")), step=7)
    assert issubclass(NonFiniteLossError, PipelineError)


def _state(step: int, finished: bool, identity: str = "same") -> dict:
    torch.manual_seed(0)
    model = DiT(SMALL)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95))
    x = torch.randn(2, 3, 8, 8)
    (model(x, torch.rand(2), torch.tensor([0, 1])) - x).square().mean().backward()
    optimizer.step()
    generator = torch.Generator().manual_seed(42)
    torch.randn(5, generator=generator)
    return {
        "identity": identity,
        "step": step,
        "finished": finished,
        "model": model.state_dict(),
        "ema": copy.deepcopy(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "losses": torch.tensor([0.5, 0.25]),
        "drawn": torch.zeros(step, 4, dtype=torch.int32),
        "train_seconds": 1.5,
    }


def test_checkpoint_round_trip_restores_weights_optimizer_and_random_stream(tmp_path):
    state = _state(step=17, finished=False)
    save_checkpoint(tmp_path / "ckpt" / "last.pt", state)
    loaded = load_checkpoint(tmp_path / "ckpt" / "last.pt")
    model = DiT(SMALL)
    model.load_state_dict(loaded["model"])
    assert all(torch.equal(a, state["model"][k]) for k, a in model.state_dict().items())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    optimizer.load_state_dict(loaded["optimizer"])
    assert optimizer.state_dict()["param_groups"][0]["betas"] == (0.9, 0.95)
    resumed, original = torch.Generator(), torch.Generator()
    resumed.set_state(loaded["generator"])
    original.set_state(state["generator"])
    assert torch.equal(torch.rand(3, generator=resumed), torch.rand(3, generator=original))
    assert loaded["step"] == 17 and loaded["train_seconds"] == 1.5


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, _state(step=1, finished=False))
    before = path.read_bytes()

    def failing_save(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(training.torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, _state(step=2, finished=False))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    assert load_checkpoint(path)["step"] == 1


@pytest.mark.parametrize(
    ("state", "resumed", "message"),
    [
        (_state(step=5, finished=False), True, "resuming from step 5"),
        (_state(step=9, finished=True), False, "a finished run; training anew from step 0"),
        (_state(step=5, finished=False, identity="other"), False, "of other code, params or data"),
    ],
)
def test_only_an_unfinished_run_of_the_same_inputs_is_resumed(
    tmp_path, caplog, state, resumed, message
):
    path = tmp_path / "last.pt"
    save_checkpoint(path, state)
    with caplog.at_level("INFO"):
        found = resumable(path, "same")
    assert (found is not None) == resumed
    assert message in caplog.text


def test_a_checkpoint_holding_code_is_not_loaded(tmp_path, caplog):
    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "last.pt"
    torch.save({"identity": "same", "payload": Exploit()}, path, pickle_module=pickle)
    with caplog.at_level("INFO"):
        assert resumable(path, "same") is None
    assert "unreadable" in caplog.text and "training from step 0" in caplog.text
    assert resumable(tmp_path / "absent.pt", "same") is None
