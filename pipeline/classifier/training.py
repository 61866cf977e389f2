"""Training the classifier: the ResNet-8 learns the pipeline's classes in the shared training
loop (`pipeline.training.loop`), from the converted model's weights or from scratch, on padded
random crops and mirror images, with a validation split held out from the training images."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pipeline.classifier.evaluation import Accuracy, Parity, classification_metrics, parity
from pipeline.classifier.resnet import ResNet8, ResNetConfig, ResNetShape, converted_weights
from pipeline.data.images import DatasetError, ImageSet
from pipeline.files import require_file
from pipeline.runtime.models import ModelError
from pipeline.runtime.sessions import batched, open_session, predictor
from pipeline.schema import bounded
from pipeline.training.params import TrainerParams

Init = Literal["converted", "scratch"]


@dataclass(frozen=True)
class ClassifierTrainParams(TrainerParams):
    """The `train_classifier.train` params."""

    epochs: int = bounded(1, 10_000)
    label_smoothing: float = bounded(0.0, 1.0)
    crop_padding: int = bounded(0, 64)  # pixels of zero border a random crop is taken from


@dataclass(frozen=True)
class TrainClassifierParams:
    """The `train_classifier` params."""

    init: Init  # converted: the converted ResNet-8's weights; scratch: random ones
    val_images: int = bounded(1, 10_000_000)  # held out of the training images, for validation
    split_seed: int = bounded(0, 2**63 - 1)  # which ones
    train_images: int = bounded(0, 10_000_000)  # of the rest, a seeded draw of this many; 0: all
    model: ResNetShape
    train: ClassifierTrainParams
    opset: int = bounded(13, 21)


def split_validation(data: ImageSet, images: int, seed: int) -> tuple[ImageSet, ImageSet]:
    """(train, validation): `images` held out at random, the same ones for the same seed."""
    if not 0 < images < len(data.labels):
        raise DatasetError(
            f"train_classifier.val_images is {images}, but the training set holds "
            f"{len(data.labels)} images; hold out fewer"
        )
    order = np.random.default_rng(seed).permutation(len(data.labels))
    return data.subset(np.sort(order[images:])), data.subset(np.sort(order[:images]))


def draw_training(part: ImageSet, images: int, seed: int) -> ImageSet:
    """`images` of the training part, the same ones for the same seed (all of it for 0)."""
    if images == 0 or images >= len(part.labels):
        return part
    order = np.random.default_rng(seed).permutation(len(part.labels))
    return part.subset(np.sort(order[:images]))


def augment(images: Tensor, padding: int, rng: torch.Generator) -> Tensor:
    """uint8 (B, H, W, C) to float: a random crop of the zero-padded image, mirrored at random.
    Every draw comes from `rng`, for the whole batch."""
    b, h, w, _ = images.shape
    padded = F.pad(images, (0, 0, padding, padding, padding, padding))  # (B, H+2p, W+2p, C)
    top = torch.randint(0, 2 * padding + 1, (b,), generator=rng)
    left = torch.randint(0, 2 * padding + 1, (b,), generator=rng)
    rows = (top[:, None] + torch.arange(h))[:, :, None]  # (B, H, 1)
    cols = (left[:, None] + torch.arange(w))[:, None, :]  # (B, 1, W)
    crops = padded[torch.arange(b)[:, None, None], rows, cols]  # (B, H, W, C)
    mirror = torch.rand(b, generator=rng) < 0.5
    return torch.where(mirror[:, None, None, None], crops.flip(2), crops).float()


@torch.no_grad()
def predict_torch(model: nn.Module, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Logits of uint8 images, batch by batch."""
    return np.concatenate(
        [
            model(torch.from_numpy(images[i : i + batch_size]).float()).numpy()
            for i in range(0, len(images), batch_size)
        ]
    )


@dataclass
class ClassificationTask:
    """The ResNet-8 and its cross-entropy on augmented batches, judged on the validation split."""

    config: ResNetConfig
    params: ClassifierTrainParams
    data: ImageSet  # the training part
    validation: ImageSet
    start: dict[str, Tensor] | None  # the weights to start from; None: random
    eval_every: int  # steps: once an epoch
    section: str = "train_classifier.train"
    labels: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.labels = self.data.labels

    def build(self, device: torch.device) -> nn.Module:
        model = ResNet8(self.config)
        if self.start is not None:
            model.load_state_dict(self.start)
        self.images = torch.from_numpy(self.data.images).to(device)
        self.targets = torch.from_numpy(self.data.labels).to(device)
        self.device = device
        return model.to(device, memory_format=torch.channels_last)  # what CPU convolutions want

    def loss(self, model: nn.Module, index: Tensor, part: slice, rng: torch.Generator) -> Tensor:
        x = augment(self.images[index], self.params.crop_padding, rng)  # (B, H, W, C)
        mine = index[part].to(self.device)
        logits = model(x[part].to(self.device))  # (b, classes)
        return F.cross_entropy(
            logits.float(), self.targets[mine], label_smoothing=self.params.label_smoothing
        )

    def evaluate(self, model: nn.Module, step: int, averaged: bool) -> dict[str, float]:
        predicted = predict_torch(model, self.validation.images).argmax(1)
        return {"val_accuracy": float(np.mean(predicted == self.validation.labels))}


def starting_weights(
    init: Init, program: Path, config: ResNetConfig, same_classes: bool, seed: int
) -> dict[str, Tensor] | None:
    """The weights training starts from: None (random) from scratch; else the converted
    program's, with a fresh output layer where the classes differ from the converted model's."""
    if init == "scratch":
        return None
    weights = converted_weights(torch.export.load(require_file(program, "converted program")))
    if weights["stem.conv.weight"].shape[0] != config.width:
        raise ModelError(
            f"train_classifier.model.width is {config.width}, but the converted model's is "
            f"{weights['stem.conv.weight'].shape[0]}: set it so, or train_classifier.init: scratch"
        )
    if same_classes:
        return weights
    torch.manual_seed(seed)
    head = ResNet8(config).head
    return {**weights, "head.weight": head.weight.detach(), "head.bias": head.bias.detach()}


@dataclass(frozen=True)
class ClassifierTrainingMetrics:
    """metrics/train_classifier.json: how training went and how good the exported model is."""

    init: Init
    epochs: int
    steps: int
    parameters: int
    final_loss: float  # the mean over the last epoch
    val_accuracy_ema: float  # on the held-out training images, at the end
    val_accuracy_raw: float
    test: Accuracy  # the exported model, with ONNX Runtime
    perf: Accuracy | None  # on the MLPerf Tiny perf subset, where the classes are CIFAR-10's
    parity_vs_torch: Parity  # the exported graph's logits against the PyTorch model's

    @classmethod
    def of(
        cls,
        init: Init,
        model: nn.Module,
        steps: int,
        rows: list[tuple],
        accuracy: dict[str, Accuracy],
        agreement: Parity,
    ) -> ClassifierTrainingMetrics:
        """From the run, its per-epoch rows (epoch_rows) and the exported model's measures."""
        _, loss, ema, raw = rows[-1]
        return cls(
            init=init, epochs=len(rows), steps=steps,
            parameters=sum(p.numel() for p in model.parameters()), final_loss=loss,
            val_accuracy_ema=ema, val_accuracy_raw=raw, test=accuracy["test"],
            perf=accuracy.get("perf"), parity_vs_torch=agreement,
        )  # fmt: skip


def epoch_rows(history: dict[str, list[float]], steps_per_epoch: int) -> list[tuple]:
    """Per epoch: the mean training loss, and validation accuracy with the EMA and raw weights."""
    losses = np.array(history["loss"]).reshape(-1, steps_per_epoch).mean(axis=1)
    return [
        (epoch, round(float(loss), 6), ema, raw)
        for epoch, loss, ema, raw in zip(
            range(1, len(losses) + 1), losses, history["val_accuracy_ema"],
            history["val_accuracy_raw"], strict=True,
        )
    ]  # fmt: skip


def measure_export(
    model: nn.Module,
    exported: Path,
    sets: dict[str, ImageSet],
    threads: int,
    batch_size: int,
) -> tuple[dict[str, Accuracy], Parity, np.ndarray]:
    """The exported model's accuracy on each set (ONNX Runtime), its parity with the PyTorch
    model on the first set, and its predictions there."""
    predict = predictor(open_session(exported, threads))
    outputs = {name: batched(predict, data.images, batch_size) for name, data in sets.items()}
    accuracy = {
        name: classification_metrics(data.labels, outputs[name].argmax(1), data.class_names)
        for name, data in sets.items()
    }
    first = next(iter(sets))
    agreement = parity(predict_torch(model, sets[first].images), outputs[first])
    return accuracy, agreement, outputs[first].argmax(1)
