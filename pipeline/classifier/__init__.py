"""The ResNet-8 classifier: Keras to ONNX, ONNX to PyTorch, and how its answers are scored."""
