"""REPA: the DiT's tokens at one depth, projected, against a classifier's feature map."""

import pytest
import torch

from pipeline.classifier.resnet import ResNet8, ResNetConfig
from pipeline.generator.alignment import (
    AlignedDiT,
    AlignmentParams,
    alignment_loss,
    generator_of,
    teacher_tokens,
)
from pipeline.generator.dit import DiT
from pipeline.schema import SchemaError
from tests.conftest import tiny_dit

PARAMS = AlignmentParams(weight=0.5, depth=1, projector_width=16)


def test_the_projected_tokens_are_kept_in_training_and_the_output_is_the_dit_s() -> None:
    torch.manual_seed(0)
    dit = DiT(tiny_dit(image_size=16))  # 4x4 patches: 16 tokens
    aligned = AlignedDiT(dit, PARAMS, teacher_channels=12).train()
    x, t, y = torch.randn(2, 3, 16, 16), torch.rand(2), torch.tensor([0, 1])
    out = aligned(x, t, y)
    assert torch.equal(out, dit(x, t, y))
    assert aligned.projected is not None and aligned.projected.shape == (2, 16, 12)
    assert generator_of(aligned) is dit and generator_of(dit) is dit
    assert not any(name.startswith("projector") for name in dit.state_dict())


def test_the_teacher_map_is_pooled_to_the_token_grid_in_token_order() -> None:
    teacher = ResNet8(ResNetConfig(width=4, mirror_average=False, image_size=32, num_classes=3))
    images = torch.randint(0, 256, (2, 32, 32, 3)).float()
    tokens = teacher_tokens(teacher, images, grid=4)  # an 8x8 map pooled to 4x4
    assert tokens.shape == (2, 16, 16)
    full = teacher.feature_map(images)  # (2, 16, 8, 8)
    corner = full[:, :, 6:8, 0:2].mean((2, 3))  # the last row's first token
    assert torch.allclose(tokens[:, 12], corner, atol=1e-5)
    assert not tokens.requires_grad


def test_the_loss_is_zero_where_the_directions_agree_and_two_where_opposed() -> None:
    target = torch.randn(2, 4, 8)
    assert alignment_loss(3 * target, target).item() == pytest.approx(0.0, abs=1e-6)
    assert alignment_loss(-target, target).item() == pytest.approx(2.0, abs=1e-6)


def test_a_depth_beyond_the_network_is_refused_naming_the_key() -> None:
    dit = DiT(tiny_dit(image_size=16))
    with pytest.raises(SchemaError, match="train_dit.repa.depth is 9"):
        AlignedDiT(dit, AlignmentParams(weight=0.5, depth=9, projector_width=16), 12)
