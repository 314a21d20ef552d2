"""Stands in for the joe voice package in tests: model_path() is all speechzoo asks of it."""


def model_path() -> str:
    return "fake-joe.onnx"
