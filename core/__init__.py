"""Robust Feature Lab's engine: data, network, attacks, training and theory (no UI here)."""

from .engine.config import Config, ConfigError

__all__ = ["Config", "ConfigError"]
