"""The Hub's model card: the card `validate` writes, under the metadata the Hub reads (license,
library, tags, datasets, and the metrics as `model-index`), built from the stages' typed records
with `huggingface_hub`'s own card classes, so that the Hub parses what it is given."""

from __future__ import annotations

from dataclasses import dataclass

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from pipeline.classifier.graph import ClassifierInfo
from pipeline.data.datasets import Dataset, Provenance
from pipeline.generator.graph import GeneratorInfo
from pipeline.quality.gates import ValidationMetrics
from pipeline.quality.markdown import interval
from pipeline.quality.recorded import Recorded
from pipeline.runtime.models import ModelInfo


@dataclass(frozen=True)
class HubDataset:
    id: str | None  # the dataset's repository on the Hub; None: one's own photos
    name: str

    @property
    def type(self) -> str:
        """The model-index dataset type: the Hub id, or the Hub's loader for a folder of images."""
        return self.id or "imagefolder"


DATASETS: dict[Dataset, HubDataset] = {
    "cifar10": HubDataset("uoft-cs/cifar10", "CIFAR-10"),
    "oxford_pets": HubDataset("timm/oxford-iiit-pet", "Oxford-IIIT Pet"),
    "folder": HubDataset(None, "own photos"),
}
CONVERTED_DATA: Dataset = "cifar10"  # MLPerf Tiny's ResNet-8 and its perf subset are CIFAR-10's
LIBRARY = "onnx"  # the files run in ONNX Runtime; the safetensors need this project's code
TAGS = ["onnx", "safetensors", "image-classification", "diffusion", "dit", "rectified-flow",
        "resnet", "mlperf-tiny", "dvc"]  # fmt: skip
# The Hub has no task id for class-conditional generation; this one takes no text prompt either.
GENERATION_TASK = "unconditional-image-generation"


def classifier_results(recorded: Recorded, data: HubDataset) -> list[EvalResult]:
    """The trained classifier's accuracy on the test images, and on MLPerf Tiny's perf subset
    where its classes are CIFAR-10's."""
    trained = recorded.train_classifier
    task = {"task_type": "image-classification", "task_name": "Image classification"}
    results = [
        EvalResult(**task, dataset_type=data.type, dataset_name=f"{data.name} test set",
                   dataset_split="test", metric_type="accuracy", metric_value=trained.test.accuracy,
                   metric_name=f"Top-1 accuracy of the trained ResNet-8 (fp32 ONNX) on "
                   f"{trained.test.total:,} test images")
    ]  # fmt: skip
    if trained.perf is not None:
        cifar = DATASETS[CONVERTED_DATA]
        results.append(
            EvalResult(**task, dataset_type=cifar.id, dataset_config="mlperf-tiny-perf",
                       dataset_name=f"MLPerf Tiny perf subset of the {cifar.name} test set",
                       dataset_split="test", metric_type="accuracy",
                       metric_value=trained.perf.accuracy,
                       metric_name=f"Top-1 accuracy of the trained ResNet-8 on the "
                       f"{trained.perf.total} perf images (MLPerf Tiny's target: 0.85)")
        )  # fmt: skip
    return results


def generator_results(validation: ValidationMetrics, data: HubDataset) -> list[EvalResult]:
    """The generator as the trained classifier judges it: conditional accuracy and the Fréchet
    distance on its features, each with its 95% interval and how the samples were drawn."""
    judged = validation.generator
    sampled = {"samples": judged.samples, "solver": judged.solver, "steps": judged.steps,
               "guidance_scale": judged.guidance_scale}  # fmt: skip
    task = {"task_type": GENERATION_TASK, "task_name": "Class-conditional image generation",
            "dataset_type": data.type}  # fmt: skip
    accuracy, distance = judged.conditional_accuracy, judged.frechet_distance
    return [
        EvalResult(**task, dataset_name=f"{data.name} classes", metric_type="accuracy",
                   metric_value=accuracy.value,
                   metric_name=f"Conditional accuracy: the share of {judged.samples:,} samples the "
                   f"trained classifier takes for the class asked for, {interval(accuracy)} (95%)",
                   metric_args={**sampled, "ci95_low": accuracy.ci95_low,
                                "ci95_high": accuracy.ci95_high}),
        EvalResult(**task, dataset_name=f"{data.name} test set", dataset_split="test",
                   metric_type="frechet_distance", metric_value=distance.value,
                   metric_name=f"Fréchet distance to as many real test images on the trained "
                   f"classifier's features, {interval(distance)} (95%; real against real: "
                   f"{judged.frechet_distance_real_floor:.3f}); not comparable with Inception FID",
                   metric_args={**sampled, "ci95_low": distance.ci95_low,
                                "ci95_high": distance.ci95_high,
                                "real_floor": judged.frechet_distance_real_floor}),
    ]  # fmt: skip


def metadata(
    recorded: Recorded, validation: ValidationMetrics, provenance: Provenance, name: str,
    license: str,
) -> ModelCardData:  # fmt: skip
    data = DATASETS[provenance.dataset]
    hub = [d.id for d in (data, DATASETS[CONVERTED_DATA]) if d.id is not None]
    datasets = list(dict.fromkeys(hub))
    return ModelCardData(
        model_name=name, license=license, library_name=LIBRARY, tags=TAGS, datasets=datasets,
        metrics=["accuracy", "frechet_distance"],
        eval_results=classifier_results(recorded, data) + generator_results(validation, data),
    )  # fmt: skip


def interface(info: ModelInfo) -> str:
    """What a model takes and gives, from its ONNX metadata."""
    side, channels = info.image_size, info.channels
    shape = f"{side}×{side}×{channels}" if info.layout == "NHWC" else f"{channels}×{side}×{side}"
    size = f"{info.layout} {shape}"
    if isinstance(info, ClassifierInfo):
        low, high = info.input_range
        classes = len(info.class_names)
        return (f"`{info.input_name}`: float32 images, {size}, values {low:g}..{high:g} → "
                f"`{info.output_name}`: {info.output_kind} over {classes} classes")  # fmt: skip
    if isinstance(info, GeneratorInfo):
        low, high = info.value_range
        return (f"{', '.join(f'`{n}`' for n in info.input_names)} (noisy images {size} in "
                f"{low:g}..{high:g}, time, class, guidance scale; class {info.null_class} is "
                f"\"no class\") → `{info.output_name}`")  # fmt: skip
    raise TypeError(f"no description for {type(info).__name__}")


def model_card(data: ModelCardData, body: str, files: str) -> ModelCard:
    """The card: metadata, the pipeline's card, and what each file of the repository is."""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body.strip()}\n\n{files.strip()}\n")
