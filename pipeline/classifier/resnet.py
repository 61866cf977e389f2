"""The MLPerf Tiny ResNet-8 in PyTorch, for training: the converted model's architecture, any
width, image size or class count, and its weights read from the converted program.

The converted graph keeps each batch norm as a per-channel scale and shift after its
convolution (the statistics folded in); this module keeps that form, so the converted weights
load as they are and the trained model exports to the same kind of graph. It takes raw 0..255
NHWC images, as every form of the classifier does, and returns logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pipeline.runtime.models import ModelError
from pipeline.schema import bounded


@dataclass(frozen=True)
class ResNetShape:
    """The `train_classifier.model` params."""

    width: int = bounded(4, 512)  # channels of the first stack; each later stack doubles them
    mirror_average: bool  # when evaluating, average the features of the image and its mirror


@dataclass(frozen=True)
class ResNetConfig(ResNetShape):
    """A ResNet-8 for its data."""

    image_size: int = bounded(8, 4096)
    num_classes: int = bounded(2, 100_000)
    channels: int = 3


@dataclass(frozen=True)
class SavedClassifier:
    """models/classifier/config.json: what builds the network the weights belong to."""

    config: ResNetConfig
    class_names: tuple[str, ...]


class ConvAffine(nn.Module):
    """A 3x3 convolution and the per-channel scale and shift its batch norm became."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        # TensorFlow's "same" padding: at stride 2 the extra row and column go at the end
        self.conv = nn.Conv2d(cin, cout, 3, stride, padding=1 if stride == 1 else 0, bias=False)
        self.scale = nn.Parameter(torch.ones(1, cout, 1, 1))
        self.shift = nn.Parameter(torch.zeros(1, cout, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        if self.stride != 1:
            x = F.pad(x, (0, 1, 0, 1))  # (N, C, H+1, W+1)
        return self.conv(x) * self.scale + self.shift  # (N, C', H', W')


class ResidualStack(nn.Module):
    """Two ConvAffines and a shortcut (a strided 1x1 convolution where the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = ConvAffine(cin, cout, stride)
        self.conv2 = ConvAffine(cout, cout, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride) if stride != 1 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv2(F.relu(self.conv1(x)))  # (N, C', H', W')
        return F.relu(y + self.shortcut(x))  # (N, C', H', W')


class ResNet8(nn.Module):
    """Stem, three residual stacks (the last two halve the resolution), global average pool,
    and a linear head: raw 0..255 images (N, H, W, C) to logits (N, classes). The head is linear,
    so averaging the mirror's features averages the logits too."""

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.stem = ConvAffine(config.channels, w, 1)
        self.stacks = nn.Sequential(
            ResidualStack(w, w, 1), ResidualStack(w, 2 * w, 2), ResidualStack(2 * w, 4 * w, 2)
        )
        self.head = nn.Linear(4 * w, config.num_classes)

    def feature_map(self, images: Tensor) -> Tensor:
        """The last stack's output: (N, 4w, H/4, W/4)."""
        x = images.permute(0, 3, 1, 2)  # (N, C, H, W), channels-last in memory
        return self.stacks(F.relu(self.stem(x)))

    def features(self, images: Tensor) -> Tensor:
        """The pooled features the head classifies (the judge compares these)."""
        return F.adaptive_avg_pool2d(self.feature_map(images), 1).flatten(1)  # (N, 4w)

    def forward(self, images: Tensor) -> Tensor:
        if self.config.mirror_average and not self.training:
            # one pass over the images and their mirrors: a batch of 2N runs faster than two of N
            n = images.shape[0]
            both = self.features(torch.cat([images, images.flip(2)]))  # (2N, 4w)
            return self.head((both[:n] + both[n:]) / 2)  # (N, classes)
        return self.head(self.features(images))  # (N, classes)


def converted_weights(program: torch.export.ExportedProgram) -> dict[str, Tensor]:
    """The converted ResNet-8's weights under this module's names, found by following the data
    through the program's graph: each convolution with the scale and shift that follow it (the
    residual path), the convolutions with none (the shortcuts), and the final matrix product."""
    signature = program.graph_signature
    names = {**signature.inputs_to_parameters, **signature.inputs_to_buffers}
    state = program.state_dict

    def constant(node: object) -> Tensor | None:
        name = getattr(node, "name", None)
        return state[names[name]].detach() if name in names else None

    convs: dict[str, list[Tensor]] = {}  # conv node -> weight, bias[, scale, shift]
    head: list[Tensor] = []
    for node in program.graph.nodes:
        if node.op != "call_function":
            continue
        source, operand = node.args[0], constant(node.args[1]) if len(node.args) > 1 else None
        op = node.target.__name__.split(".")[0]
        if op == "conv2d":
            convs[node.name] = [constant(node.args[1]), constant(node.args[2])]
        elif op in ("mul", "add") and operand is not None and source.name in convs:
            convs[node.name] = [*convs.pop(source.name), operand]  # follow the chain
        elif op == "matmul" and operand is not None:
            head = [operand.T]
        elif op == "add" and operand is not None and head and len(head) == 1:
            head.append(operand)
    residual = [c for c in convs.values() if len(c) == 4]
    shortcuts = [c for c in convs.values() if len(c) == 2]
    if len(residual) != 7 or len(shortcuts) != 2 or len(head) != 2:
        raise ModelError(
            f"the converted program is not a ResNet-8: {len(residual)} convolutions with a "
            f"scale and shift (7 expected), {len(shortcuts)} shortcuts (2), head {len(head)}/2"
        )
    return _named(residual, shortcuts, head)


def _named(residual: list, shortcuts: list, head: list) -> dict[str, Tensor]:
    """Residual-path convolutions in order (stem, then two per stack), shortcuts in order."""
    places = ["stem", *(f"stacks.{s}.conv{c}" for s in range(3) for c in (1, 2))]
    weights: dict[str, Tensor] = {}
    for place, (weight, bias, scale, shift) in zip(places, residual, strict=True):
        weights[f"{place}.conv.weight"] = weight
        weights[f"{place}.scale"] = scale.reshape(1, -1, 1, 1)
        # the convolution's bias goes through the scale: (conv + b) * s + t
        weights[f"{place}.shift"] = (bias.reshape(1, -1, 1, 1) * scale + shift).reshape(1, -1, 1, 1)
    for stack, (weight, bias) in zip((1, 2), shortcuts, strict=True):
        weights[f"stacks.{stack}.shortcut.weight"] = weight
        weights[f"stacks.{stack}.shortcut.bias"] = bias
    weights["head.weight"], weights["head.bias"] = head
    return weights
