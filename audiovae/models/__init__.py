"""Encoders and decoders."""

from audiovae.models.conv import ConvDecoder, ConvEncoder, ConvVAE, ConvVAEConfig

__all__ = ["ConvDecoder", "ConvEncoder", "ConvVAE", "ConvVAEConfig"]
