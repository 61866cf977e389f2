"""What Python ONNX Runtime computes for the same inputs as the browser app; the end-to-end tests
and the benchmark compare the two.

    python web/scripts/reference.py generate --model dit.onnx --noise noise.npy --label 3 \
        --guidance 4 --steps 8 --solver heun [--time-shift 2 --guidance-interval 0.2 1] \
        --out samples.npy
    python web/scripts/reference.py image --data data/cifar10/test.npz --index 7 --out img.png
    python web/scripts/reference.py classify --model resnet8.onnx --image img.png --out probs.json
    python web/scripts/reference.py time --model dit.onnx --batch 4 --threads 2 --fixed-batch
    python web/scripts/reference.py optimize --model dit.onnx --out dit_opt.onnx --fixed-batch 4
    python web/scripts/reference.py timing-server    (JSON requests on stdin; see timing_server)

Samples come from the pipeline's own sampler (time grid, solvers, guidance interval), the loop
that `validate` judges, run on the given ONNX file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from PIL import Image

from pipeline.classifier.graph import ClassifierInfo
from pipeline.data.images import resized
from pipeline.generator.flow import solve
from pipeline.generator.graph import GeneratorInfo
from pipeline.generator.sampling import Guidance, onnx_velocity
from pipeline.runtime.models import read_info

Velocity = Callable[[np.ndarray, float], np.ndarray]


def open_session(path: Path, threads: int = 0, fixed_batch: int = 0) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # 0: ONNX Runtime's default
    if fixed_batch:  # as the browser app does: the exported graphs call their batch axis "batch"
        options.add_free_dimension_override_by_name("batch", fixed_batch)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def guided_velocity(
    session: ort.InferenceSession, names: list[str], label: int, guidance: float, batch: int
) -> Velocity:
    """v(x, t) of the exported graph, fed x, t, y, guidance_scale in the metadata's order."""
    y = np.full(batch, label, dtype=np.int64)
    scale = np.full(batch, guidance, dtype=np.float32)

    def velocity(x: np.ndarray, t: float) -> np.ndarray:
        times = np.full(batch, t, dtype=np.float32)
        return session.run(None, dict(zip(names, (x, times, y, scale), strict=True)))[0]

    return velocity


def generate(args: argparse.Namespace) -> None:
    """Sample as the pipeline samples (its solver, time grid and guidance interval) through the
    given ONNX file, so that the app is compared with the loop validate judges."""
    noise = torch.from_numpy(np.load(args.noise).astype(np.float32))  # (N, C, H, W)
    labels = torch.full((noise.shape[0],), args.label, dtype=torch.int64)
    guidance = Guidance(args.guidance, tuple(args.guidance_interval))
    velocity = onnx_velocity(open_session(args.model), labels, guidance)
    samples = solve(velocity, noise, args.steps, args.solver, args.time_shift)
    np.save(args.out, samples.numpy().astype(np.float32))


def image(args: argparse.Namespace) -> None:
    """Write one test image as a PNG (lossless, so the browser decodes the same pixels)."""
    with np.load(args.data, allow_pickle=False) as data:
        pixels, label = data["images"][args.index], int(data["labels"][args.index])
        names = [str(name) for name in data["class_names"]]
    picture = Image.fromarray(pixels)
    if args.size:
        # Nearest neighbour adds no new values; the classifier's bicubic resize then has work to do
        width, height = (int(n) for n in args.size.split("x"))
        picture = picture.resize((width, height), Image.Resampling.NEAREST)
    picture.save(args.out)
    print(json.dumps({"label": label, "class_name": names[label]}))


def classify(args: argparse.Namespace) -> None:
    """Probabilities for one image file, preprocessed as the pipeline does (a softmax taken of a
    classifier whose output is logits)."""
    info = read_info(ClassifierInfo, args.model)
    with Image.open(args.image) as opened:
        pixels = resized(opened.convert("RGB"), info.image_size)
    batch = pixels.astype(np.float32)[None]  # (1, H, W, 3), raw 0..255
    output = open_session(args.model).run(None, {info.input_name: batch})[0][0]
    if info.output_kind == "logits":
        output = np.exp(output - output.max()) / np.exp(output - output.max()).sum()
    top = int(np.argmax(output))
    result = {"probabilities": output.tolist(), "top": top, "class_name": info.class_names[top]}
    Path(args.out).write_text(json.dumps(result))


def timed_velocity(
    model: Path, batch: int, threads: int, fixed_batch: bool
) -> Callable[[float], float]:
    """A function of t that runs one guided velocity evaluation and returns its milliseconds."""
    info = read_info(GeneratorInfo, model)
    session = open_session(model, threads, batch if fixed_batch else 0)
    velocity = guided_velocity(session, list(info.input_names), 0, 4.0, batch)
    x = np.random.default_rng(0).standard_normal((batch, *info.sample_shape), np.float32)
    velocity(x, 0.0)  # warm-up: the first run allocates

    def timed(t: float) -> float:
        start = time.perf_counter()
        velocity(x, t)
        return (time.perf_counter() - start) * 1000

    return timed


def time_velocity(args: argparse.Namespace) -> None:
    """Median milliseconds of one guided velocity evaluation at a batch size and thread count."""
    timed = timed_velocity(args.model, args.batch, args.threads, args.fixed_batch)
    times = [timed(i / args.repeats) for i in range(args.repeats)]
    print(json.dumps({"median_ms": statistics.median(times), "runs": args.repeats}))


def optimize(args: argparse.Namespace) -> None:
    """Save the graph as ONNX Runtime optimises it at a level, its batch fixed if asked."""
    options = ort.SessionOptions()
    options.graph_optimization_level = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    }[args.level]
    if args.fixed_batch:
        options.add_free_dimension_override_by_name("batch", args.fixed_batch)
    options.optimized_model_filepath = str(args.out)
    ort.InferenceSession(str(args.model), options, providers=["CPUExecutionProvider"])


def timing_server(args: argparse.Namespace) -> None:
    """One evaluation per request line, so a benchmark can take turns with the browser step by step.

    Each line of stdin is JSON {"model", "batch", "threads", "fixed_batch", "t"}; each answer is a
    line {"ms": ...}. Sessions are made on first use and kept.
    """
    sessions: dict[tuple, Callable[[float], float]] = {}
    for line in sys.stdin:
        request = json.loads(line)
        key = (request["model"], request["batch"], request["threads"], request["fixed_batch"])
        if key not in sessions:
            sessions[key] = timed_velocity(Path(key[0]), *key[1:])
        print(json.dumps({"ms": sessions[key](request["t"])}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    command = commands.add_parser("generate", help="sample from given noise")
    command.add_argument("--model", type=Path, required=True)
    command.add_argument("--noise", type=Path, required=True, help=".npy, float32 (N, C, H, W)")
    command.add_argument("--label", type=int, required=True)
    command.add_argument("--guidance", type=float, required=True)
    command.add_argument("--steps", type=int, required=True)
    command.add_argument("--solver", choices=("euler", "heun"), required=True)
    command.add_argument("--time-shift", type=float, default=1.0)
    command.add_argument("--guidance-interval", type=float, nargs=2, default=(0.0, 1.0))
    command.add_argument("--out", type=Path, required=True, help=".npy of the float samples")
    command.set_defaults(run=generate)

    command = commands.add_parser("image", help="one test image as PNG")
    command.add_argument("--data", type=Path, required=True, help="the pipeline's test.npz")
    command.add_argument("--index", type=int, required=True)
    command.add_argument("--size", help="WIDTHxHEIGHT to write it at instead of its own size")
    command.add_argument("--out", type=Path, required=True)
    command.set_defaults(run=image)

    command = commands.add_parser("classify", help="classifier probabilities for an image")
    command.add_argument("--model", type=Path, required=True)
    command.add_argument("--image", type=Path, required=True)
    command.add_argument("--out", type=Path, required=True, help=".json")
    command.set_defaults(run=classify)

    command = commands.add_parser("time", help="latency of one velocity evaluation")
    command.add_argument("--model", type=Path, required=True)
    command.add_argument("--batch", type=int, required=True)
    command.add_argument("--threads", type=int, required=True)
    command.add_argument("--repeats", type=int, default=20)
    command.add_argument(
        "--fixed-batch", action="store_true", help="fix the batch axis, as the browser app does"
    )
    command.set_defaults(run=time_velocity)

    command = commands.add_parser("optimize", help="save the graph as ONNX Runtime optimises it")
    command.add_argument("--model", type=Path, required=True)
    command.add_argument("--out", type=Path, required=True)
    command.add_argument("--level", choices=("basic", "extended"), default="extended")
    command.add_argument("--fixed-batch", type=int, default=0, help="fix the batch axis to this")
    command.set_defaults(run=optimize)

    command = commands.add_parser("timing-server", help="one timed evaluation per stdin line")
    command.set_defaults(run=timing_server)

    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
