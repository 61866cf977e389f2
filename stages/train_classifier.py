"""Stage `train_classifier`: the ResNet-8 trained on the pipeline's images, from the converted
model or from scratch; its EMA weights exported to ONNX (`logits`) and measured there."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from pipeline.classifier import training
from pipeline.classifier.evaluation import readable_sets, write_confusion_rows
from pipeline.classifier.export import export_onnx
from pipeline.classifier.graph import INPUT_NAME, ClassifierInfo
from pipeline.classifier.resnet import ResNetConfig, SavedClassifier
from pipeline.data.images import ImageSet
from pipeline.files import write_csv
from pipeline.project import dvcfile, paths
from pipeline.project.registry import log_onnx_model
from pipeline.project.tracking import log_metrics, mlflow_run, run_stage
from pipeline.records import write_record
from pipeline.runtime.models import read_info
from pipeline.runtime.sessions import RuntimeParams, to_input
from pipeline.training.checkpoint import run_identity
from pipeline.training.loop import train
from pipeline.training.sampler import save_draws
from pipeline.training.weights import save_weights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Params:
    runtime: RuntimeParams
    train_classifier: training.TrainClassifierParams


def main(params: Params) -> None:
    config, runtime = params.train_classifier, params.runtime
    data = ImageSet.load(paths.TRAIN_IMAGES)
    part, validation = training.split_validation(data, config.val_images, config.split_seed)
    part = training.draw_training(part, config.train_images, config.split_seed)
    shape = ResNetConfig(**asdict(config.model), image_size=data.image_size,
                         num_classes=len(data.class_names))  # fmt: skip
    converted = read_info(ClassifierInfo, paths.ONNX_MODEL).class_names
    start = training.starting_weights(config.init, paths.TORCH_MODEL, shape,
                                      converted == data.class_names, config.train.seed)  # fmt: skip
    epoch = max(1, len(part.labels) // config.train.batch_size)  # steps
    task = training.ClassificationTask(shape, config.train, part, validation, start, epoch)
    what = {"train_classifier": asdict(config)}
    identity = run_identity(dvcfile.inputs_digest("train_classifier", what), data)
    trained = train(task, config.train, config.train.epochs * epoch, paths.CLASSIFIER_CHECKPOINT,
                    identity)  # fmt: skip
    assert trained is not None  # one process: rank 0

    save_weights(trained.model, paths.CLASSIFIER_WEIGHTS)
    write_record(paths.CLASSIFIER_CONFIG, SavedClassifier(shape, data.class_names))
    export_onnx(trained.model, data.class_names, paths.CLASSIFIER_ONNX, config.opset)
    info = read_info(ClassifierInfo, paths.CLASSIFIER_ONNX)
    sets = readable_sets(info, {"test": paths.TEST_IMAGES, "perf": paths.CIFAR10_PERF})
    accuracy, agreement, predicted = training.measure_export(
        trained.model, paths.CLASSIFIER_ONNX, sets, runtime.threads, runtime.batch_size
    )
    rows = training.epoch_rows(trained.history, epoch)
    steps = len(trained.history["loss"])
    metrics = training.ClassifierTrainingMetrics.of(
        config.init, trained.model, steps, rows, accuracy, agreement
    )
    plots = paths.plots("train_classifier")
    write_csv(plots / "history.csv", ["epoch", "train_loss", "val_accuracy_ema",
                                      "val_accuracy_raw"], rows)  # fmt: skip
    save_draws(trained.drawn, part.labels, part.class_names, paths.CLASSIFIER_DRAWN_INDICES,
               plots / "class_histogram.csv")  # fmt: skip
    test = sets["test"]
    write_confusion_rows(plots / "confusion_test.csv", test.labels, predicted, test.class_names)
    write_record(paths.metrics("train_classifier"), metrics)
    write_record(paths.timing("train_classifier"), trained.timing)
    log.info("test accuracy %.4f, validation %.4f", metrics.test.accuracy, rows[-1][2])
    with mlflow_run("train_classifier", asdict(params)) as tracker:
        log_metrics(tracker, asdict(metrics))
        log_metrics(tracker, asdict(trained.timing), prefix="timing.")
        for epoch_number, loss, ema, raw in rows:
            values = {"train_loss": loss, "val_accuracy_ema": ema, "val_accuracy_raw": raw}
            tracker.log_metrics(values, step=epoch_number)
        log_onnx_model(paths.CLASSIFIER_ONNX, "classifier", {INPUT_NAME: to_input(test.images[:2])})


if __name__ == "__main__":
    run_stage(main, Params)
