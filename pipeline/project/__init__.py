"""The plumbing: params.yaml and dvc.yaml, the project's paths, how a stage runs and reports."""
