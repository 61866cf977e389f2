from pathlib import Path

from pipeline.project.paths import project_root
from pipeline.project.tracking import artifact_location
from pipeline.schema import flatten


def test_queued_experiment_workspaces_log_to_the_project_store(tmp_path: Path) -> None:
    workspace = tmp_path / "repo" / ".dvc" / "tmp" / "exps" / "tmpabc123"
    workspace.mkdir(parents=True)
    assert project_root(workspace) == tmp_path / "repo"
    assert project_root(tmp_path / "repo") == tmp_path / "repo"


def test_sqlite_artifacts_sit_beside_the_database(tmp_path: Path) -> None:
    location = artifact_location(f"sqlite:///{tmp_path}/mlflow.db")
    assert location == (tmp_path / "mlartifacts").as_uri()
    assert artifact_location("http://tracking.example:5000") is None


def test_nested_params_flatten_to_dotted_keys() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": "x"}}, "e": 2}) == {"a.b": 1, "a.c.d": "x", "e": 2}
