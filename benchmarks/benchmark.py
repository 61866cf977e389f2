"""Side-by-side speed of the pipeline's models and of DVC itself, printed as ratios.

    python benchmarks/benchmark.py               # models (needs a finished `dvc repro`)
    python benchmarks/benchmark.py --pipeline    # also a no-op and a from-clean `dvc repro`

Variants of one comparison take turns inside every round and each reports the median of its
rounds, so a busy machine slows them alike and the ratios stay meaningful.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import classifier, paths
from pipeline.datasets import ImageSet
from pipeline.dit import DiT, DiTConfig
from pipeline.flow import flow_matching_loss
from pipeline.params import load_params
from pipeline.timing import interleaved_throughput
from stages.quantize import generator_inputs
from stages.train_dit import Params as TrainParams


def table(title: str, rates: dict[str, float], unit: str, baseline: str) -> None:
    print(f"\n{title}")
    print(f"  {'variant':<28} {unit:>12} {'x ' + baseline:>14}")
    for name, rate in rates.items():
        print(f"  {name:<28} {rate:>12.1f} {rate / rates[baseline]:>14.2f}")


def classifier_speed(batch_size: int, rounds: int, threads: int) -> None:
    images = ImageSet.load(paths.TEST_SET).images[:batch_size]
    batch = classifier.to_input(images)
    keras_model = classifier.load_keras(paths.KERAS_MODEL)
    torch_model = classifier.load_torch(paths.TORCH_MODEL)
    runs: dict[str, Callable[[], object]] = {}
    for name, path in paths.CLASSIFIER_VARIANTS.items():
        session = classifier.ort_session(path, threads)
        runs[f"onnxruntime {name}"] = lambda s=session: s.run(None, {"input": batch})
    runs["keras predict"] = lambda: keras_model.predict(batch, batch_size=batch_size, verbose=0)
    runs["onnx2torch (torch.export)"] = lambda: classifier.torch_predict(torch_model)(batch)
    rates = interleaved_throughput(runs, batch_size, rounds)
    table(f"ResNet-8, batch {batch_size}, images/s", rates, "images/s", "keras predict")
    test = ImageSet.load(paths.TEST_SET)
    accuracy = {}
    for name, path in paths.CLASSIFIER_VARIANTS.items():
        predict = classifier.ort_predict(classifier.ort_session(path, threads))
        predicted = classifier.batched(predict, test.images, 256).argmax(1)
        accuracy[name] = float(np.mean(predicted == test.labels))
    print("  accuracy on the test set: " + ", ".join(f"{n} {a:.4f}" for n, a in accuracy.items()))


def generator_speed(batch_size: int, rounds: int, threads: int) -> None:
    runs = {}
    for name, path in paths.GENERATOR_VARIANTS.items():
        session = classifier.ort_session(path, threads)
        feed = generator_inputs(session, batch_size, seed=0)
        runs[f"onnxruntime {name}"] = lambda s=session, f=feed: s.run(None, f)
    rates = interleaved_throughput(runs, batch_size, rounds)
    table(
        f"DiT guided velocity, batch {batch_size}, images/s", rates, "images/s", "onnxruntime fp32"
    )


def training_speed(rounds: int) -> None:
    params = load_params(TrainParams).train_dit
    config = DiTConfig(image_size=params.data.image_size, **vars(params.model))
    batch = params.train.batch_size
    x = torch.randn(batch, 3, config.image_size, config.image_size)
    y = torch.randint(0, config.num_classes, (batch,))
    steps = {}
    for precision in ("fp32", "bf16"):
        model = DiT(config)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        generator = torch.Generator().manual_seed(0)

        def step(
            model=model, optimizer=optimizer, generator=generator, bf16=precision == "bf16"
        ) -> None:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = flow_matching_loss(
                    model,
                    x,
                    y,
                    time_mode="logit_normal",
                    label_dropout=0.1,
                    null_class=config.num_classes,
                    generator=generator,
                )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        steps[f"train step {precision}"] = step
    rates = interleaved_throughput(steps, batch, rounds)
    table(
        f"train_dit ({params.model.width}w/{params.model.depth}d/p{params.model.patch_size}, "
        f"batch {batch}), images/s",
        rates,
        "images/s",
        "train step fp32",
    )


def pipeline_wall_time() -> None:
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run([*dvc, "repro"], check=True, capture_output=True)  # bring it up to date first
    start = time.perf_counter()
    subprocess.run([*dvc, "repro"], check=True, capture_output=True)
    noop = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        files = subprocess.run(
            ["git", "ls-files"], capture_output=True, text=True, check=True
        ).stdout.split()
        for name in files:
            (Path(tmp) / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(name, Path(tmp) / name)
        subprocess.run(["git", "init", "-q"], cwd=tmp, check=True)
        start = time.perf_counter()
        subprocess.run(
            [*dvc, "repro"],
            cwd=tmp,
            check=True,
            capture_output=True,
            env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        )
        clean = time.perf_counter() - start
    print(f"\ndvc repro: no-op {noop:.1f} s; default pipeline from clean {clean / 60:.1f} min")


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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{args.threads} threads, torch {torch.__version__}"
    )
    for batch in (64, 256):
        classifier_speed(batch, args.rounds, args.threads)
    generator_speed(16, args.rounds, args.threads)
    training_speed(max(3, args.rounds // 4))
    if args.pipeline:
        pipeline_wall_time()


if __name__ == "__main__":
    main()
