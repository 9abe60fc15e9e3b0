"""tortie: a Calico-compatible network-policy agent and CLI with policy audit mode."""

# The calicoctl release whose resource API, checks, messages and command behaviour tortie follows.
CALICOCTL_VERSION = "v3.32.1"

__all__ = ["CALICOCTL_VERSION", "__version__"]


def __getattr__(name: str) -> str:
    """``__version__`` from the installed metadata, read on first use: importing
    importlib.metadata would cost every command tens of milliseconds, and only
    ``tortie version`` and the agent need it."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("tortie")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0.0.0+source"
