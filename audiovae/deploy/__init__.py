"""Deployment: the encoder and decoder of a trained run as standalone TorchScript or ONNX files
that load without audiovae (`audiovae export`)."""

from audiovae.deploy.exporter import GRAPH_NAMES, export_model, export_run
from audiovae.deploy.formats import FORMATS

__all__ = ["FORMATS", "GRAPH_NAMES", "export_model", "export_run"]
