"""tortie: a Calico-compatible network-policy agent and CLI with policy audit mode."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tortie")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
