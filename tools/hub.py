"""A folder the Hugging Face Hub takes as a model repository, made from a run that passed, and
its upload.

    python -m tools.hub --out hub/                          # write the folder
    python -m tools.hub --push OWNER/NAME --dry-run         # ... and list what would be uploaded
    HF_TOKEN=hf_... python -m tools.hub --push OWNER/NAME   # ... and upload it as one commit

Run it in the project after `dvc repro`; it refuses a run whose gates failed. The folder holds:

    README.md                  the model card, its metadata (license, library, tags, datasets,
                               metrics as model-index) from the stages' typed records
    classifier/                the trained ResNet-8: model.safetensors + config.json, and onnx/
    dit/                       the generator: model.safetensors + config.json, and onnx/
    resnet8/                   MLPerf Tiny's ResNet-8, converted from Keras: onnx/
    <model>/onnx/model.onnx    fp32; model_int8.onnx and model_fp16.onnx beside it, the names
                               ONNX model repositories (Transformers.js, Optimum) use for them
    samples.png                the generator's labelled sample grid

One folder per model, as three models share the repository. The folder is written whole beside
its place and renamed into it, so a failure leaves the previous folder as it was.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx2  # the HTTP client of huggingface_hub: its TransportError is an unreachable Hub
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled
from huggingface_hub.utils import validate_repo_id

from pipeline.classifier.graph import ClassifierInfo
from pipeline.classifier.resnet import SavedClassifier
from pipeline.data.datasets import Provenance
from pipeline.errors import PipelineError, run_main
from pipeline.files import atomic_folder
from pipeline.generator.graph import GeneratorInfo
from pipeline.generator.weights import GeneratorConfig
from pipeline.project import paths
from pipeline.quality.gates import ValidationMetrics
from pipeline.quality.markdown import table
from pipeline.quality.recorded import Recorded
from pipeline.records import read_record
from pipeline.runtime.models import ModelInfo, read_info
from tools.hub_card import interface, metadata, model_card

CARD = "README.md"
SAMPLES = "samples.png"
FIX = "run `dvc repro` first"


@dataclass(frozen=True)
class Published:
    """One model in the repository: its folder there, its ONNX variants and, for a model the
    pipeline trains, its weights and the typed config that builds their network."""

    folder: str
    what: str
    info: type[ModelInfo]
    variants: dict[str, Path]  # precision: the pipeline's file
    weights: Path | None = None
    config: Path | None = None
    config_record: type | None = None


MODELS = (
    Published("classifier", "the ResNet-8 `train_classifier` trains", ClassifierInfo,
              paths.CLASSIFIER_VARIANTS, paths.CLASSIFIER_WEIGHTS, paths.CLASSIFIER_CONFIG,
              SavedClassifier),
    Published("dit", "the class-conditional DiT generator, one guided velocity evaluation per "
              "call (the ODE loop runs outside the graph)", GeneratorInfo, paths.GENERATOR_VARIANTS,
              paths.GENERATOR_WEIGHTS, paths.GENERATOR_CONFIG, GeneratorConfig),
    Published("resnet8", "MLPerf Tiny's ResNet-8, converted from Keras", ClassifierInfo,
              paths.CONVERTED_VARIANTS),
)  # fmt: skip


def onnx_name(precision: str) -> str:
    return "model.onnx" if precision == "fp32" else f"model_{precision}.onnx"


def contents() -> dict[str, Path]:
    """Every file of the folder but the card, by its path there, from the pipeline's file."""
    files: dict[str, Path] = {}
    for model in MODELS:
        for precision, source in model.variants.items():
            files[f"{model.folder}/onnx/{onnx_name(precision)}"] = source
        if model.weights and model.config:
            files[f"{model.folder}/model.safetensors"] = model.weights
            files[f"{model.folder}/config.json"] = model.config
    files[SAMPLES] = paths.SAMPLE_GRID
    return files


def require_inputs(files: dict[str, Path]) -> None:
    """Every input present, or one error naming each missing file."""
    needed = [*files.values(), paths.MODEL_CARD, paths.PROVENANCE, paths.metrics("validate")]
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        raise PipelineError(f"not found: {', '.join(missing)}; {FIX}, then run this again")


def passed_validation() -> ValidationMetrics:
    validation = read_record(ValidationMetrics, paths.metrics("validate"), "metrics of `validate`")
    if not validation.passed:
        raise PipelineError(
            f"{paths.metrics('validate')}: the gates {validation.failing} failed; only a run that "
            "passes is published (fix it, then dvc repro)"
        )
    return validation


def files_section(files: dict[str, Path]) -> str:
    """What each file of the repository is, where the pipeline wrote it, and each model's
    interface as its ONNX metadata states it."""
    rows = [(f"`{CARD}`", "this card", f"`{paths.MODEL_CARD}` and the metrics", "")]
    for name, source in files.items():
        of = name.split("/")[0] if "/" in name else "the sample grid"
        rows.append((f"`{name}`", of, f"`{source}`", f"{source.stat().st_size:,}"))
    lines = ["## Files in this repository", "", f"![The generator's sample grid]({SAMPLES})", ""]
    lines += [table(["file", "of", "from", "bytes"], rows), ""]
    for model in MODELS:
        info = read_info(model.info, model.variants["fp32"])
        lines.append(f"- `{model.folder}/`: {model.what}. {interface(info)}.")
    lines.append(
        "\nThe quantised files take and give the same. The safetensors hold the EMA weights of "
        "this project's PyTorch modules, which `config.json` describes."
    )
    return "\n".join(lines)


def check_models() -> None:
    """Each ONNX file's metadata and each config parse as the pipeline's typed records."""
    for model in MODELS:
        for source in model.variants.values():
            read_info(model.info, source)
        if model.config and model.config_record:
            read_record(model.config_record, model.config, f"the config of `{model.folder}`")


def build(out: Path, name: str, license: str) -> list[tuple[str, int]]:
    """The whole folder at `out`, replacing what was there; its files and their sizes."""
    files = contents()
    require_inputs(files)
    validation = passed_validation()
    check_models()
    provenance = read_record(Provenance, paths.PROVENANCE, "provenance of `download`")
    data = metadata(Recorded.load(), validation, provenance, name, license)
    card = model_card(data, paths.MODEL_CARD.read_text(), files_section(files))
    with atomic_folder(out) as folder:
        for target, source in files.items():
            (folder / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, folder / target)
        card.save(folder / CARD)
    return listing(out)


def listing(folder: Path) -> list[tuple[str, int]]:
    return sorted(
        (path.relative_to(folder).as_posix(), path.stat().st_size)
        for path in folder.rglob("*")
        if path.is_file()
    )


def revision() -> str:
    """The project's commit, for the upload's message."""
    shown = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return shown.stdout.strip() if shown.returncode == 0 else "an unversioned copy"


def upload(folder: Path, repo_id: str, token: str) -> str:
    """The folder as one commit of the model repository `repo_id` (created if need be), which
    then holds exactly the folder's files; the commit's address."""
    api = HfApi(token=token)  # at HF_ENDPOINT, when set
    where = f"{constants.ENDPOINT}/{repo_id}"
    try:
        api.whoami()  # a refused token or no network fails here, before anything is written
        api.create_repo(repo_id, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id, folder_path=folder, delete_patterns="*",
            commit_message=f"Models, card and samples of the pipeline at {revision()}",
        )  # fmt: skip
    except OfflineModeIsEnabled:
        raise PipelineError(f"{where}: HF_HUB_OFFLINE is set; nothing was uploaded") from None
    except HfHubHTTPError as err:
        raise PipelineError(
            f"{where}: the Hub refused the upload ({err.response.status_code}: "
            f"{str(err).splitlines()[0]}); check that HF_TOKEN may write to {repo_id}"
        ) from None
    except httpx2.TransportError as err:  # refused connections, DNS failures, timeouts
        raise PipelineError(
            f"{where}: cannot reach the Hub ({type(err).__name__}: {err}); nothing was uploaded. "
            "Check the network, or HF_ENDPOINT"
        ) from None
    return str(commit.commit_url)


def repository(repo_id: str) -> str:
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise PipelineError(f"--push {repo_id}: {err}") from None
    if repo_id.count("/") != 1:
        raise PipelineError(f"--push {repo_id}: name the repository as OWNER/NAME")
    return repo_id


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("hub"), help="the folder (default: hub)")
    parser.add_argument("--push", metavar="OWNER/NAME", help="upload the folder there (HF_TOKEN)")
    parser.add_argument("--dry-run", action="store_true", help="with --push: list, upload nothing")
    parser.add_argument(
        "--license", default="apache-2.0", help="the card's license (default: MLPerf Tiny's)"
    )
    parser.add_argument("--name", help="the model-index name (default: NAME of --push)")
    args = parser.parse_args()
    if args.dry_run and not args.push:
        parser.error("--dry-run goes with --push OWNER/NAME")
    repo_id = repository(args.push) if args.push else None
    token = os.environ.get("HF_TOKEN", "")
    if repo_id and not args.dry_run and not token:
        raise PipelineError(
            "HF_TOKEN is not set: create a token with write access at "
            "https://huggingface.co/settings/tokens and export HF_TOKEN; nothing was uploaded"
        )
    name = args.name or (repo_id.split("/")[1] if repo_id else "resnet8-tinydit")
    files = build(args.out, name, args.license)
    total = f"{len(files)} files, {sum(size for _, size in files):,} bytes"
    if repo_id is None:
        print(f"wrote {args.out}: {total}")
        return
    if args.dry_run:
        print(f"dry run: would upload {args.out} to {constants.ENDPOINT}/{repo_id}, {total}:")
        for path, size in files:
            print(f"{size:>12,}  {path}")
        return
    print(f"uploaded {total}: {upload(args.out, repo_id, token)}")


if __name__ == "__main__":
    run_main(main)
