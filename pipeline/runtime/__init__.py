"""ONNX Runtime and ONNX models: sessions, model metadata and naming, quantisation, timing."""
