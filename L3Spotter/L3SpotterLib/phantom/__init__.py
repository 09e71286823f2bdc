"""Synthetic CT phantoms with exact vertebra labels (work in progress: public API below)."""

from .generator import GENERATOR_VERSION, Phantom, generate_phantom

__all__ = ["GENERATOR_VERSION", "Phantom", "generate_phantom"]
