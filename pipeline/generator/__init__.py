"""The generator: the DiT, flow matching, training, sampling, ONNX export and its judge."""
