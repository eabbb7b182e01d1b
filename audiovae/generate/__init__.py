"""Latents become sound: reconstruct, resynthesise, morph, traverse, sample, swap."""
