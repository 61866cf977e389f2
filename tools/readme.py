"""The README's tables of numbers, made from the committed metrics and benchmark results, so that
no number there is one a run did not produce.

    python -m tools.readme            # rewrite the tables in README.md
    python -m tools.readme --check    # exit 1 if README.md is not up to date
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline.files import read_json, write_text
from pipeline.generator.dit import DiTArchitecture
from pipeline.generator.training import DiTTrainParams, GeneratorTrainingMetrics
from pipeline.params import read_document
from pipeline.project import paths
from pipeline.quality.gates import ValidationMetrics
from pipeline.quality.judge import Judgement
from pipeline.quality.markdown import interval, table
from pipeline.quality.recorded import Recorded
from pipeline.records import read_record
from pipeline.schema import parse
from tools.ablation import ABLATION, Ablation
from tools.app_sampling import REPORT as APP_SAMPLING
from tools.app_sampling import AppSampling, seconds
from tools.levers import LEVERS, Levers

README = Path("README.md")
LOCK = Path("dvc.lock")
BENCHMARK = paths.REPORTS / "benchmark.json"


def results_table() -> str:
    return table(["what", "data", "value"], [*classifier_rows(), *generator_rows()])


def classifier_rows() -> list[tuple[str, str, str]]:
    recorded = Recorded.load()
    evaluation, classifier = recorded.onnx_eval, recorded.quantize.converted
    keras, torch_parity = (
        recorded.keras_to_onnx.parity_vs_keras,
        recorded.onnx_to_torch.parity_vs_onnx,
    )
    perf, int8, fp16 = evaluation.perf, classifier["int8"], classifier["fp16"]
    return [
        ("ONNX top-1 accuracy", "MLPerf Tiny perf subset (EEMBC ic01, 200 lossless images)",
         f"{perf.accuracy} ({perf.correct}/{perf.total})"),
        ("ONNX top-1 accuracy", "the mirror's JPEG CIFAR-10 test set (10,000, lossy)",
         f"{evaluation.test.accuracy}"),
        ("Keras ↔ ONNX", f"{keras.images:,} test images",
         f"argmax agreement {keras.argmax_agreement:.0%}, max abs diff "
         f"{keras.max_abs_diff:.1e}"),
        ("ONNX ↔ PyTorch", f"{torch_parity.images:,} test images",
         f"argmax agreement {torch_parity.argmax_agreement:.0%}, max abs diff "
         f"{torch_parity.max_abs_diff:.1e}"),
        ("int8 classifier (static QDQ)", "test set / perf subset",
         f"{int8.test_accuracy} / {int8.perf_accuracy}; {int8.bytes:,} bytes "
         f"(fp32: {classifier['fp32'].bytes:,})"),
        ("fp16 classifier", "test set / perf subset",
         f"{fp16.test_accuracy} / {fp16.perf_accuracy}; {fp16.bytes:,} bytes"),
        *trained_rows(recorded),
    ]  # fmt: skip


def trained_rows(recorded: Recorded) -> list[tuple[str, str, str]]:
    trained, variants = recorded.train_classifier, recorded.quantize.trained
    int8, converted = variants["int8"], recorded.onnx_eval.test.accuracy
    perf = (
        f"{trained.perf.accuracy} ({trained.perf.correct}/{trained.perf.total})"
        if trained.perf
        else "—"
    )
    return [
        (f"trained classifier ({trained.epochs} epochs from the {trained.init} model)",
         "the mirror's JPEG CIFAR-10 test set / perf subset",
         f"**{trained.test.accuracy}** / {perf} (converted: {converted})"),
        ("trained classifier: validation (5,000 held-out training images)", "EMA / raw weights",
         f"{trained.val_accuracy_ema} / {trained.val_accuracy_raw}"),
        ("trained classifier: ONNX ↔ PyTorch", f"{trained.parity_vs_torch.images:,} test images",
         f"argmax agreement {trained.parity_vs_torch.argmax_agreement:.0%}, max abs diff "
         f"{trained.parity_vs_torch.max_abs_diff:.1e} (logits)"),
        ("trained classifier, int8 / fp16", "test set",
         f"{int8.test_accuracy} (drop {int8.test_accuracy_drop:.4f}) / "
         f"{variants['fp16'].test_accuracy}; {int8.bytes:,} / {variants['fp16'].bytes:,} bytes"),
    ]  # fmt: skip


def guided_over() -> str:
    """' over [a, b]' where `validate` ran with guidance over part of the flow only (the params
    dvc.lock says it ran with), else ''."""
    document = read_document(LOCK)["stages"]["validate"]["params"]["params.yaml"]["sample"]
    start, end = document.get("guidance_interval", (0.0, 1.0))
    return "" if (start, end) == (0.0, 1.0) else f" over [{start:g}, {end:g}]"


def guidance(judged: Judgement) -> str:
    return f"guidance {judged.guidance_scale:g}{guided_over()}"


def held_out_rows(judged: Judgement) -> list[tuple[str, str, str]]:
    held = judged.held_out
    if held is None:
        return []
    return [(f"the same samples, held-out judge (`{held.judge}`, took no part)",
             guidance(judged),
             f"**{interval(held.conditional_accuracy)}** (the judge on real test images: "
             f"{held.ceiling})")]  # fmt: skip


def fidelity_rows(judged: Judgement) -> list[tuple[str, str, str]]:
    """Precision and recall by each judge, and the Classification Accuracy Score."""
    rows = []
    judges = [("trained classifier", judged.precision_recall)]
    if judged.held_out is not None:
        judges.append(("held-out judge", judged.held_out.precision_recall))
    for name, measured in judges:
        if measured is not None:
            what = f"precision / recall ({name}'s features, k = 3)"
            data = f"{judged.samples:,} samples vs as many real test images"
            value = f"{interval(measured.precision)} / {interval(measured.recall)}"
            rows.append((what, data, value))
    if judged.cas is not None:
        cas = judged.cas
        rows.append((f"Classification Accuracy Score ({cas.samples_per_class} a class, "
                     f"{cas.epochs} epochs from scratch)", "trained on samples / on real images",
                     f"**{interval(cas.generated)}** / {interval(cas.real)}: "
                     f"**{cas.ratio:.2f}×**"))  # fmt: skip
    return rows


def app_sampling_table() -> str:
    if not APP_SAMPLING.is_file():
        return "_No choice made yet: `python -m tools.app_sampling`._"
    report = read_record(AppSampling, APP_SAMPLING, "python -m tools.app_sampling")
    rows = [
        (row.precision, row.steps, f"{row.time_shift:g}", interval(row.conditional_accuracy),
         interval(row.frechet_distance, 2), f"{1000 * seconds(row, report.step_seconds):.0f}",
         "**chosen**" if row == report.chosen else ("eligible" if row.eligible else ""))
        for row in [report.reference, *report.candidates]
    ]  # fmt: skip
    rows[0] = ("fp32 (the reference)", *rows[0][1:6], "")
    held = [
        (f"{row.precision}, {row.steps} steps, shift {row.time_shift:g}",
         f"**{interval(row.held_out_accuracy)}**", f"{row.held_out_ceiling:.4f}")
        for row in report.reported
    ]  # fmt: skip
    header = ["generator", "Euler steps", "time shift", "conditional accuracy (trained judge)",
              "Fréchet distance", "ms for 4 images (ONNX Runtime)", "choice"]  # fmt: skip
    return (
        f"{table(header, rows)}\n\nReported by the held-out converted ResNet-8 on other seeds "
        f"({report.samples_per_class} samples a class):\n\n"
        f"{table(['setting', 'held-out conditional accuracy', 'its ceiling'], held)}"
    )


def generator_rows() -> list[tuple[str, str, str]]:
    recorded = Recorded.load()
    export, generator = recorded.export_generator, recorded.quantize.generator
    judged = read_record(ValidationMetrics, paths.metrics("validate"), "validate").generator
    # committed files only (metrics/, and the params dvc.lock says the run used): a fresh clone
    # has no models/, and params.yaml may have moved on since the run
    trained = read_record(GeneratorTrainingMetrics, paths.metrics("train_dit"), "train_dit")
    document = read_document(LOCK)["stages"]["train_dit"]["params"]["params.yaml"]["train_dit"]
    arch = parse(DiTArchitecture, document["model"], "train_dit.model")
    train = parse(DiTTrainParams, document["train"], "train_dit.train")
    accuracy, distance = judged.conditional_accuracy, judged.frechet_distance
    assert accuracy and distance, "the generator was not judged"
    sweep = ", ".join(
        f"{p.guidance_scale:g}: {p.conditional_accuracy.value:.3f}"
        for p in judged.sweep.values()
        if p.solver == judged.solver
    )
    int8, fp16 = generator["int8"], generator["fp16"]
    return [
        (f"TinyDiT (width {arch.width}, depth {arch.depth}, {arch.heads} heads, "
         f"patch {arch.patch_size}; {trained.parameters:,} parameters)",
         "CIFAR-10 JPEG training set",
         f"{trained.steps:,} steps of batch {train.batch_size}, final loss "
         f"{trained.final_loss:.3f}"),
        (f"generator conditional accuracy (trained classifier judge, {judged.samples:,} samples, "
         f"{judged.solver} {judged.steps} steps)",
         guidance(judged),
         f"**{interval(accuracy)}** (the judge on real test images: "
         f"{recorded.train_classifier.test.accuracy})"),
        *held_out_rows(judged),
        *fidelity_rows(judged),
        ("conditional accuracy over the guidance sweep", f"guidance{guided_over()}: accuracy",
         sweep),
        ("Fréchet distance on classifier features", f"{judged.samples:,} samples vs as many "
         "real test images", f"{interval(distance, 2)} (real-vs-real floor "
         f"{judged.frechet_distance_real_floor:.2f})"),
        ("ONNX ↔ PyTorch generator", "random inputs; a whole sample",
         f"max velocity diff {export.velocity_max_abs_diff:.1e}; sample max diff "
         f"{export.sample_max_abs_diff:.1e}"),
        ("dynamic-int8 / fp16 generator", "velocity vs fp32, relative L2",
         f"{int8.velocity_relative_l2_error:.3f} / {fp16.velocity_relative_l2_error:.4f}; "
         f"{int8.bytes:,} / {fp16.bytes:,} bytes (fp32: {generator['fp32'].bytes:,})"),
    ]  # fmt: skip


def classifier_speed_rows(bench: dict) -> list[tuple[str, str, str]]:
    rows = []
    for batch in (64, 256):
        rates = bench[f"classifier_batch_{batch}"]["images_per_s"]
        fp32, keras = rates["onnxruntime fp32"], rates["keras predict"]
        others = ("onnxruntime int8", "onnxruntime fp16", "onnx2torch (torch.export)")
        trained = ("trained onnxruntime fp32", "trained onnxruntime int8")
        rows += [
            (f"ResNet-8, batch {batch}: ONNX Runtime fp32 vs Keras `predict`",
             f"{fp32:,.0f} vs {keras:,.0f}", f"{fp32 / keras:.1f}x"),
            (f"ResNet-8, batch {batch}: int8 / fp16 / onnx2torch vs ONNX Runtime fp32",
             " / ".join(f"{rates[n]:,.0f}" for n in others) + f" vs {fp32:,.0f}",
             " / ".join(f"{rates[n] / fp32:.2f}x" for n in others)),
            (f"trained classifier (mirror-averaged), batch {batch}: fp32 / int8 vs the converted "
             "fp32", " / ".join(f"{rates[n]:,.0f}" for n in trained) + f" vs {fp32:,.0f}",
             " / ".join(f"{rates[n] / fp32:.2f}x" for n in trained)),
        ]  # fmt: skip
    return rows + batch_1_rows(bench)


def batch_1_rows(bench: dict) -> list[tuple[str, str, str]]:
    """Each classifier at batch 1 against the baseline (MLPerf's int8 TFLite where measured),
    with its test accuracy (the trained ones on the pipeline's test images, the others on
    CIFAR-10's)."""
    if "classifier_batch_1" not in bench:
        return []
    measured = bench["classifier_batch_1"]
    rates, accuracy, baseline = measured["images_per_s"], measured["accuracy"], measured["baseline"]
    return [
        (f"batch 1: {name} (test accuracy {accuracy[name]:.4f}) vs {baseline}",
         f"{rate:,.0f} vs {rates[baseline]:,.0f}", f"{rate / rates[baseline]:.2f}x")
        for name, rate in rates.items() if name != baseline
    ]  # fmt: skip


def training_rows(bench: dict) -> list[tuple[str, str, str]]:
    rows = []
    for key, title, names in (
        ("train_step", "`train_dit` step: bf16 autocast vs fp32", "train step"),
        ("classifier_train_step", "`train_classifier` step: bf16 autocast vs fp32",
         "classifier step"),
    ):  # fmt: skip
        rates = bench[key]["images_per_s"]
        bf16, fp32 = rates[f"{names} bf16"], rates[f"{names} fp32"]
        rows.append((title, f"{bf16:,.0f} vs {fp32:,.0f}", f"{bf16 / fp32:.2f}x"))
    cost = bench["generator_cost"]
    default, baseline = cost["configs"]["default"], cost["configs"][cost["baseline"]]
    rows += [
        (f"`train_dit` itself: the default generator vs `{cost['baseline']}` (same images)",
         f"{default['train_images_per_s']:,.0f} vs {baseline['train_images_per_s']:,.0f}; "
         f"{default['train_minutes']} vs {baseline['train_minutes']} min per run",
         f"time {cost['ratios']['train_minutes']:.2f}x"),
        (f"a sampled image: the default generator vs `{cost['baseline']}`",
         f"{default['guided_evaluations_per_image']} vs "
         f"{baseline['guided_evaluations_per_image']} guided evaluations: "
         f"{default['sampling_ms_per_image']} vs {baseline['sampling_ms_per_image']} ms",
         f"time {cost['ratios']['sampling_ms_per_image']:.2f}x"),
    ]  # fmt: skip
    processes = bench["distributed"]["images_per_s"]
    one, two = processes["1 process(es)"], processes["2 process(es)"]
    rows.append(("`train_dit`: 2 processes (DDP, gloo) vs 1", f"{two:,.0f} vs {one:,.0f}",
                 f"{two / one:.2f}x"))  # fmt: skip
    return rows


def machine_note(bench: dict) -> str:
    machine = bench["machine"]
    flags = ", ".join(name for name, present in machine["cpu_flags"].items() if present) or "none"
    note = (
        f"Measured on {machine['cpu']}, {machine['cores']} cores (bf16 units: {flags}), "
        f"{machine['threads']} threads, onnxruntime {machine['onnxruntime']}, torch "
        f"{machine['torch']}. Accuracy on the test set in the same run: "
        + ", ".join(f"{n} {a}" for n, a in bench["classifier_accuracy"].items())
        + "."
    )
    if "pipeline" in bench:
        note += (
            f" The default pipeline from clean took {bench['pipeline']['from_clean_min']} min "
            f"(a fresh copy, no cache, no checkpoint); a no-op `dvc repro` "
            f"{bench['pipeline']['noop_s']} s."
        )
    return note


def benchmark_table() -> str:
    if not BENCHMARK.is_file():
        return "_No benchmark run yet: `python -m benchmarks.benchmark`._"
    bench = read_json(BENCHMARK)
    gen = bench["generator_batch_16"]["images_per_s"]
    rows = [
        *classifier_speed_rows(bench),
        ("DiT guided velocity, batch 16: int8 / fp16 vs fp32",
         f"{gen['int8']:,.0f} / {gen['fp16']:,.0f} vs {gen['fp32']:,.0f}",
         f"{gen['int8'] / gen['fp32']:.2f}x / {gen['fp16'] / gen['fp32']:.2f}x"),
        *training_rows(bench),
    ]  # fmt: skip
    return f"{table(['comparison', 'images/s', 'ratio'], rows)}\n\n{machine_note(bench)}"


def ablation_table() -> str:
    if not ABLATION.is_file():
        return "_No ablation yet: `python -m tools.ablation EXPERIMENT ...`._"
    found = read_record(Ablation, ABLATION, "the ablation (python -m tools.ablation)").rows
    control = found[0]
    rows = [
        (f"`{each.name}`",
         ", ".join(f"`{k.removeprefix('train_dit.')}={v}`" for k, v in each.changed.items())
         or "(the control)",
         interval(each.conditional_accuracy),
         f"{each.conditional_accuracy.ci95_low / each.ceiling:.2f}",
         f"{each.worst_class} {each.worst_class_accuracy:.2f}",
         f"{interval(each.frechet_distance, 2)}",
         "pass" if each.passed else f"**fails** {each.failing}",
         f"{each.train_minutes:.1f} ({each.train_minutes / control.train_minutes:.2f}x)",
         f"{each.guided_evaluations_per_image} evaluations, {each.sampling_ms_per_image:.0f} ms "
         f"({each.sampling_ms_per_image / control.sampling_ms_per_image:.2f}x)")
        for each in found
    ]  # fmt: skip
    header = ["experiment", "params changed (vs the first row)", "conditional accuracy (95%)",
              "low end / ceiling", "worst class", "Fréchet distance (95%)", "gates",
              "train_dit min", "a sampled image"]  # fmt: skip
    return table(header, rows)


def levers_table() -> str:
    if not LEVERS.is_file():
        return "_No levers judged yet: `python -m tools.levers EXPERIMENT ...`._"
    found = read_record(Levers, LEVERS, "the levers (python -m tools.levers)").rows
    control = found[0]
    rows = [
        (f"`{each.name}`",
         ", ".join(f"`{k.removeprefix('train_dit.')}={v}`" for k, v in each.changed.items())
         or "(the control)",
         f"{each.training_images / control.training_images:.0f}x",
         interval(each.held_out),
         f"{each.held_out.ci95_low / each.held_out_ceiling:.2f}",
         f"{each.held_out_worst_class} {each.held_out_worst:.2f}",
         "—" if each.cas_ratio is None else f"{each.cas_ratio:.2f}",
         "—" if each.cas_worst_class is None else
         f"{each.cas_worst_class} {each.cas_worst:.2f} (real {each.cas_worst_real:.2f})",
         "—" if each.precision is None else interval(each.precision),
         "—" if each.recall is None else interval(each.recall),
         interval(each.trained_judge),
         "pass" if each.passed else f"**fails** {each.failing}")
        for each in found
    ]  # fmt: skip
    header = ["experiment", "params changed (vs the first row)", "training images",
              "held-out judge (95%)", "low end / its ceiling", "its worst class", "CAS ratio",
              "CAS worst class", "precision", "recall", "trained judge (95%)", "gates"]  # fmt: skip
    return table(header, rows)


TABLES: dict[str, Callable[[], str]] = {
    "results": results_table,
    "benchmark": benchmark_table,
    "ablation": ablation_table,
    "levers": levers_table,
    "app_sampling": app_sampling_table,
}


def render(text: str) -> str:
    """`text` with every `<!-- table:NAME -->` ... `<!-- /table:NAME -->` block remade."""
    for name, make in TABLES.items():
        opening, closing = f"<!-- table:{name} -->", f"<!-- /table:{name} -->"
        if opening not in text or closing not in text:
            raise ValueError(f"README.md has no {opening} ... {closing} block")
        before, rest = text.split(opening, 1)
        _, after = rest.split(closing, 1)
        text = f"{before}{opening}\n{make()}\n{closing}{after}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if outdated")
    args = parser.parse_args()
    text = README.read_text()
    rendered = render(text)
    if args.check:
        if rendered != text:
            sys.exit("README.md tables are out of date: run python -m tools.readme")
        return
    write_text(README, rendered)


if __name__ == "__main__":
    main()
