"""Library code the stages share.

The modules here (errors, files, params) are the foundation every room uses. The sub-packages are
the rooms: `project` (the plumbing that knows DVC, MLflow and the project's files), `data`
(sources in), `runtime` (ONNX Runtime and ONNX models), `classifier`, `generator` and `quality`.
Only `project` knows about DVC.
"""
