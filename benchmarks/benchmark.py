"""Side-by-side speed of the pipeline's models and of DVC itself, printed as ratios.

    python -m benchmarks.benchmark               # models (needs a finished `dvc repro`)
    python -m benchmarks.benchmark --pipeline    # also a no-op and a from-clean `dvc repro`
    python -m benchmarks.benchmark --only classifier --mlperf-int8 pretrainedResnet_quant.tflite

Variants of one comparison take turns inside every round and each reports the median of its
rounds, so a busy machine slows them alike and the ratios stay meaningful. The results are also
written to reports/benchmark.json, which the README's tables are made from.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import yaml

from pipeline.classifier.convert import load_keras
from pipeline.classifier.export import export_onnx as export_classifier
from pipeline.classifier.graph import INPUT_NAME
from pipeline.classifier.resnet import ResNet8, ResNetConfig, SavedClassifier
from pipeline.classifier.torch_export import load_torch, torch_predictor
from pipeline.classifier.training import augment
from pipeline.data.images import ImageSet
from pipeline.data.sources import mirror_from_env
from pipeline.files import file_digest, read_json, write_json
from pipeline.generator.dit import DiT, DiTArchitecture, DiTConfig
from pipeline.generator.export import export_onnx
from pipeline.generator.flow import EVALUATIONS_PER_STEP, draw, flow_matching_loss
from pipeline.generator.graph import GeneratorInfo, random_inputs
from pipeline.generator.presets import PRESETS, Preset, generator_preset
from pipeline.params import read_document
from pipeline.project import paths
from pipeline.records import read_record
from pipeline.runtime.models import read_info
from pipeline.runtime.quantization import quantize_classifier_int8
from pipeline.runtime.sessions import batched, open_session, predictor, to_input
from pipeline.runtime.timing import interleaved_throughput, session_throughput
from pipeline.training.weights import load_weights
from tools.workspace import CODE, copy_project

RESULTS = paths.REPORTS / "benchmark.json"


def table(title: str, rates: dict[str, float], baseline: str) -> dict:
    print(f"\n{title}")
    print(f"  {'variant':<28} {'images/s':>12} {'x ' + baseline:>14}")
    for name, rate in rates.items():
        print(f"  {name:<28} {rate:>12.1f} {rate / rates[baseline]:>14.2f}")
    return {"images_per_s": rates, "baseline": baseline}


def classifier_speed(batch_size: int, rounds: int, threads: int) -> dict:
    images = to_input(ImageSet.load(paths.CIFAR10_TEST).images[:batch_size])
    keras_model = load_keras(paths.KERAS_MODEL)
    torch_model = torch_predictor(load_torch(paths.TORCH_MODEL))
    runs: dict[str, Callable[[], object]] = {}
    for family, variants in (
        ("", paths.CONVERTED_VARIANTS),
        ("trained ", paths.CLASSIFIER_VARIANTS),
    ):
        for name, path in variants.items():
            session = open_session(path, threads)
            runs[f"{family}onnxruntime {name}"] = lambda s=session: s.run(
                None, {INPUT_NAME: images}
            )
    runs["keras predict"] = lambda: keras_model.predict(images, batch_size=batch_size, verbose=0)
    runs["onnx2torch (torch.export)"] = lambda: torch_model(images)
    rates = interleaved_throughput(runs, batch_size, rounds)
    return table(f"ResNet-8, batch {batch_size}", rates, "onnxruntime fp32")


MLPERF_INT8 = (  # MLPerf Tiny's own int8 model of the same ResNet-8, for the batch-1 comparison
    "https://raw.githubusercontent.com/mlcommons/tiny/master/benchmark/training/"
    "image_classification/trained_models/pretrainedResnet_quant.tflite",
    "3c002613d1b2475eb51dd78dfb85a546c8ae658dee71cf6ade43b022fe205415",
)


def tflite_predictor(path: Path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """A TensorFlow Lite int8 model as a function of raw 0..255 float32 NHWC images."""
    import tensorflow as tf  # here, not at the top: loaded before torch, it crashes torch's import

    if file_digest(path) != MLPERF_INT8[1]:
        raise SystemExit(f"{path}: not MLPerf's int8 model (sha256 differs); get {MLPERF_INT8[0]}")
    interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    given, made = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero = given["quantization"]

    def predict(images: np.ndarray) -> np.ndarray:
        outputs = []
        for image in images:  # its graph takes one image at a time
            quantized = np.clip(np.round(image / scale + zero), -128, 127).astype(given["dtype"])
            interpreter.set_tensor(given["index"], quantized[None])
            interpreter.invoke()
            outputs.append(interpreter.get_tensor(made["index"])[0])
        return np.stack(outputs)

    return predict


def classifier_batch_1(rounds: int, threads: int, mlperf_int8: Path | None) -> dict:
    """Images a second at batch 1 and test accuracy: the trained classifier with and without
    mirror averaging (the same weights, exported and quantised here), the converted ResNet-8,
    and MLPerf's own int8 TFLite model where given."""
    trained = ImageSet.load(paths.TEST_IMAGES)
    saved = read_record(SavedClassifier, paths.CLASSIFIER_CONFIG, "the classifier's config")
    train = ImageSet.load(paths.TRAIN_IMAGES)
    pick = np.random.default_rng(0).choice(len(train.labels), 1000, replace=False)
    calibration = to_input(train.images[pick])  # as quantize calibrates
    models: dict[str, tuple[Callable[[np.ndarray], np.ndarray], ImageSet]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        for mirror in (True, False):
            config = dataclasses.replace(saved.config, mirror_average=mirror)
            model = load_weights(ResNet8(config), paths.CLASSIFIER_WEIGHTS, "classifier").eval()
            tag = "mirror-averaged" if mirror else "one pass"
            fp32, int8 = Path(tmp) / f"{mirror}.onnx", Path(tmp) / f"{mirror}_int8.onnx"
            export_classifier(model, saved.class_names, fp32, 17)
            quantize_classifier_int8(fp32, int8, calibration, per_channel=True)
            for precision, path in (("fp32", fp32), ("int8", int8)):
                models[f"trained {tag} {precision}"] = (predictor(open_session(path, threads)),
                                                        trained)  # fmt: skip
            # one image is too little work to share: a second thread costs a wake-up per node
            models[f"trained {tag} int8, 1 thread"] = (predictor(open_session(int8, 1)), trained)
    cifar = ImageSet.load(paths.CIFAR10_TEST)
    for precision, path in paths.CONVERTED_VARIANTS.items():
        if precision != "fp16":
            models[f"converted {precision}"] = (predictor(open_session(path, threads)), cifar)
    if mlperf_int8 is not None:
        models["MLPerf int8 TFLite"] = (tflite_predictor(mlperf_int8, threads), cifar)
        models["MLPerf int8 TFLite, 1 thread"] = (tflite_predictor(mlperf_int8, 1), cifar)
    accuracy = {
        name: round(float(np.mean(batched(run, data.images, 256).argmax(1) == data.labels)), 4)
        for name, (run, data) in models.items()
    }
    one = to_input(trained.images[:1])
    rates = interleaved_throughput({name: lambda r=run: r(one) for name, (run, _) in
                                    models.items()}, 1, rounds)  # fmt: skip
    baseline = "MLPerf int8 TFLite" if mlperf_int8 is not None else "converted int8"
    result = table("Classifiers at batch 1", rates, baseline)
    print("  test accuracy: " + ", ".join(f"{n} {a}" for n, a in accuracy.items()))
    return {**result, "accuracy": accuracy}


def classifier_training_speed(rounds: int) -> dict:
    """train_classifier's step (augmentation, forward, backward, AdamW) in fp32 and under bf16
    autocast, taking turns."""
    shape = ResNetConfig(width=16, mirror_average=True, image_size=32, num_classes=10)
    images = torch.from_numpy(ImageSet.load(paths.TRAIN_IMAGES).images[:4096])
    labels = torch.randint(0, 10, (128,))
    steps = {}
    for precision in ("fp32", "bf16"):
        model = ResNet8(shape).to(memory_format=torch.channels_last)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        rng = torch.Generator().manual_seed(0)

        def step(model=model, optimizer=optimizer, rng=rng, bf16=precision == "bf16"):
            x = augment(images[torch.randint(0, len(images), (128,), generator=rng)], 4, rng)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = torch.nn.functional.cross_entropy(model(x).float(), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        steps[f"classifier step {precision}"] = step
    rates = interleaved_throughput(steps, 128, rounds)
    return table("train_classifier step (ResNet-8, batch 128)", rates, "classifier step fp32")


def classifier_accuracy(threads: int) -> dict[str, float]:
    test = ImageSet.load(paths.CIFAR10_TEST)
    accuracy = {}
    for name, path in paths.CONVERTED_VARIANTS.items():
        predicted = batched(predictor(open_session(path, threads)), test.images, 256).argmax(1)
        accuracy[name] = round(float(np.mean(predicted == test.labels)), 4)
    print("  accuracy on the test set: " + ", ".join(f"{n} {a}" for n, a in accuracy.items()))
    return accuracy


def generator_speed(batch_size: int, rounds: int, threads: int) -> dict:
    inputs = random_inputs(read_info(GeneratorInfo, paths.GENERATOR_ONNX), batch_size, seed=0)
    rates = session_throughput(
        paths.GENERATOR_VARIANTS, lambda names: inputs, batch_size, rounds, threads
    )
    return table(f"DiT guided velocity, batch {batch_size}", rates, "fp32")


def default_preset() -> Preset:
    """The generator params params.yaml holds, as a preset."""
    return generator_preset(read_document())


def image_size() -> int:
    return read_document()["data"]["image_size"]


def training_speed(rounds: int) -> dict:
    default = default_preset()
    config = DiTConfig.of(default["train_dit.model"], image_size(), num_classes=10)
    batch = default["train_dit.train"].batch_size
    x = torch.randn(batch, config.channels, config.image_size, config.image_size)
    y = torch.randint(0, config.num_classes, (batch,))
    steps = {}
    for precision in ("fp32", "bf16"):
        model = DiT(config)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        generator = torch.Generator().manual_seed(0)

        def step(model=model, optimizer=optimizer, generator=generator, bf16=precision == "bf16"):
            drawn = draw(tuple(x.shape), "logit_normal", 0.1, generator)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = flow_matching_loss(model, x, y, drawn, config.num_classes)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        steps[f"train step {precision}"] = step
    rates = interleaved_throughput(steps, batch, rounds)
    title = f"train_dit step ({config.width}w/{config.depth}d/p{config.patch_size}, batch {batch})"
    return table(title, rates, "train step fp32")


def stage_images_per_s(preset: Preset, steps: int, processes: int = 1) -> float:
    """Images/s of `train_dit` itself (its loop: data, EMA, checkpoints, REPA's teacher where
    on) for `steps` steps, run on a copy of the project's code with the preset's
    `train_dit.model`, `.train` and `.repa` params; the progress grids are timed apart."""
    with tempfile.TemporaryDirectory() as tmp:
        project = copy_project(Path(tmp), only=CODE)
        for linked in (paths.TRAIN_IMAGES.parent, paths.CLASSIFIER_DIR, paths.ONNX_MODEL):
            (project / linked).parent.mkdir(parents=True, exist_ok=True)
            (project / linked).symlink_to(linked.resolve())
        train = preset["train_dit.train"]
        short = dataclasses.replace(train, steps=steps, checkpoint_every=steps)
        document = read_document()
        document["train_dit"]["model"] = dataclasses.asdict(preset["train_dit.model"])
        document["train_dit"]["train"] = dataclasses.asdict(short)
        document["train_dit"]["repa"] = dataclasses.asdict(preset["train_dit.repa"])
        document["train_dit"]["progress"]["every"] = 0
        document["train_dit"]["distributed"]["procs_per_node"] = processes
        (project / "params.yaml").write_text(yaml.safe_dump(document))
        env = {**os.environ, "PYTHONPATH": tmp, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/m.db"}
        run = [sys.executable, "-m", "stages.train_dit"]
        done = subprocess.run(run, cwd=project, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"train_dit failed in the benchmark:\n{done.stderr[-3000:]}")
        return read_json(project / "reports" / "timing" / "train_dit.json")["images_per_s"]


def generator_costs(configs: dict[str, Preset], rounds: int, threads: int,
                    images: int = 12_800) -> dict[str, dict]:  # fmt: skip
    """What each configuration costs, measured side by side in this one run: training
    (train_dit's own loop on `images` images, configurations taking turns; its minutes are
    steps x batch / rate) and a sampled image (guided evaluations x ONNX Runtime's time each).
    Configurations that share a network and its training are measured once."""
    trainings = {name: (p["train_dit.model"], p["train_dit.train"], p["train_dit.repa"])
                 for name, p in configs.items()}  # fmt: skip
    networks = {name: p["train_dit.model"] for name, p in configs.items()}
    distinct = list(dict.fromkeys(trainings.values()))
    measured: dict[int, list[float]] = {i: [] for i in range(len(distinct))}
    for _ in range(rounds):
        for i, (model, train, repa) in enumerate(distinct):
            preset = {"train_dit.model": model, "train_dit.train": train, "train_dit.repa": repa}
            measured[i].append(stage_images_per_s(preset, images // train.batch_size))
    models = list(dict.fromkeys(networks.values()))
    evaluation_rates = sampling_rates(models, rounds, threads)
    costs = {}
    for name, preset in configs.items():
        train, sample = preset["train_dit.train"], preset["sample"]
        rate = float(np.median(measured[distinct.index(trainings[name])]))
        evaluations = sample.steps * EVALUATIONS_PER_STEP[sample.solver]
        per_second = evaluation_rates[models.index(networks[name])]
        costs[name] = {
            "train_images_per_s": round(rate, 1),
            "train_minutes": round(train.steps * train.batch_size / rate / 60, 2),
            "guided_evaluations_per_image": evaluations,
            "sampling_ms_per_image": round(1000 * evaluations / per_second, 2),
        }
    return costs


def generator_cost(baseline: str, rounds: int, threads: int) -> dict:
    """The default generator against preset `baseline`, side by side."""
    result = generator_costs({"default": default_preset(), baseline: PRESETS[baseline]}, rounds,
                             threads)  # fmt: skip
    ratios = {
        key: round(result["default"][key] / result[baseline][key], 2)
        for key in ("train_minutes", "sampling_ms_per_image")
    }
    print(f"\nthe default generator vs {baseline}")
    for name, row in result.items():
        print(f"  {name:<10} {row}")
    print(f"  ratios (default / {baseline}): {ratios}")
    return {"baseline": baseline, "configs": result, "ratios": ratios}


def sampling_rates(models: list[DiTArchitecture], rounds: int, threads: int) -> list[float]:
    """Guided evaluations per second of each network, exported to ONNX, side by side."""
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for i, architecture in enumerate(models):
            model = DiT(DiTConfig.of(architecture, image_size(), num_classes=10)).eval()
            with torch.no_grad():  # random weights: the zero-initialised outputs would be folded
                for parameter in model.parameters():
                    parameter.normal_(0, 0.02)
            files[str(i)] = Path(tmp) / f"{i}.onnx"
            export_onnx(model, tuple(str(c) for c in range(10)), files[str(i)], opset=17)
        inputs = random_inputs(read_info(GeneratorInfo, files["0"]), 16, seed=0)
        rates = session_throughput(files, lambda names: inputs, 16, 4 * rounds, threads)
        return [rates[str(i)] for i in range(len(models))]


def distributed_speed(processes: tuple[int, ...], steps: int, rounds: int) -> dict:
    """train_dit's images/s at each process count with the default model, counts taking turns."""
    default = default_preset()
    rates: dict[str, list[float]] = {f"{count} process(es)": [] for count in processes}
    for _ in range(rounds):
        for count in processes:
            rate = stage_images_per_s(default, steps, count)
            rates[f"{count} process(es)"].append(rate)
    medians = {name: float(np.median(values)) for name, values in rates.items()}
    return table(f"train_dit, {steps} steps of the default model", medians, "1 process(es)")


def pipeline_wall_time() -> dict:
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run([*dvc, "repro"], check=True, capture_output=True)  # bring it up to date first
    start = time.perf_counter()
    subprocess.run([*dvc, "repro"], check=True, capture_output=True)
    noop = time.perf_counter() - start
    mirror = mirror_from_env(paths.project_root())
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    if mirror is not None:
        env["DATA_MIRROR"] = str(mirror)  # the copy sits elsewhere: a relative path would break
    with tempfile.TemporaryDirectory() as tmp:
        copy_project(Path(tmp))
        subprocess.run(["git", "init", "-q"], cwd=tmp, check=True)
        start = time.perf_counter()
        subprocess.run([*dvc, "repro"], cwd=tmp, check=True, capture_output=True, env=env)
        clean = time.perf_counter() - start
    print(f"\ndvc repro: no-op {noop:.1f} s; default pipeline from clean {clean / 60:.1f} min")
    return {"noop_s": round(noop, 1), "from_clean_min": round(clean / 60, 1)}


def cpu_model() -> str:
    """The CPU's model name and architecture, and which wide-vector units it has."""
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text() if cpuinfo.is_file() else ""
    names = [line.split(":", 1)[1].strip() for line in text.splitlines()
             if line.startswith("model name")]  # fmt: skip
    units = [f for f in ("avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f" {f}" in text]
    model = names[0] if names else platform.processor() or "unknown CPU"
    return f"{model} ({platform.machine()}; {', '.join(units) or 'no AVX-512'})"


def machine(threads: int) -> dict:
    flags = {
        "avx512_bf16": torch.cpu._is_avx512_bf16_supported(),
        "amx": torch.cpu._is_amx_tile_supported(),
    }
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": threads,
        "cpu_flags": flags,
        "onnxruntime": ort.__version__,
        "torch": torch.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--pipeline",
        action="store_true",
        help="also time a no-op and a from-clean `dvc repro` (minutes)",
    )
    parser.add_argument("--mlperf-int8", type=Path, help=f"MLPerf's int8 TFLite, {MLPERF_INT8[0]}")
    parser.add_argument("--only", nargs="+", choices=sorted(SECTIONS),
                        help="only these, keeping the rest of reports/benchmark.json")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results: dict = read_json(RESULTS) if args.only and RESULTS.is_file() else {}
    results["machine"] = machine(args.threads)
    print(results["machine"])
    for name in args.only or SECTIONS:
        if name != "pipeline" or args.pipeline or args.only:
            results.update(SECTIONS[name](args))
    write_json(RESULTS, results)


SECTIONS: dict[str, Callable[[argparse.Namespace], dict]] = {
    "classifier": lambda a: {
        **{f"classifier_batch_{b}": classifier_speed(b, a.rounds, a.threads) for b in (64, 256)},
        "classifier_accuracy": classifier_accuracy(a.threads),
        "classifier_batch_1": classifier_batch_1(a.rounds * 100, a.threads, a.mlperf_int8),
    },
    "generator": lambda a: {"generator_batch_16": generator_speed(16, a.rounds, a.threads)},
    "training": lambda a: {
        "train_step": training_speed(max(3, a.rounds // 4)),
        "classifier_train_step": classifier_training_speed(max(3, a.rounds // 4)),
        "generator_cost": generator_cost("cpu-v2", rounds=3, threads=a.threads),
        "distributed": distributed_speed((1, 2), steps=100, rounds=2),
    },
    "pipeline": lambda a: {"pipeline": pipeline_wall_time()},
}


if __name__ == "__main__":
    main()
