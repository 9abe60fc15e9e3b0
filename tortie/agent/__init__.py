"""The node agent: store -> calc -> dataplane, with health endpoints."""

from .daemon import Agent, Status, setup_logging

__all__ = ["Agent", "Status", "setup_logging"]
