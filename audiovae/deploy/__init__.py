"""Deployment: the encoder and decoder of a trained run as standalone TorchScript or ONNX files
that load without audiovae (`audiovae export`). Attributes load on first use (torch is heavy)."""

from audiovae.lazy import lazy_exports

__all__ = ["FORMATS", "GRAPH_NAMES", "export_model", "export_run"]
__getattr__ = lazy_exports(
    __name__,
    {
        "FORMATS": "audiovae.deploy.formats",
        "GRAPH_NAMES": "audiovae.deploy.exporter",
        "export_model": "audiovae.deploy.exporter",
        "export_run": "audiovae.deploy.exporter",
    },
)
