"""HiveBoard: self-hosted server and dashboard for HiveLoop."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hiveboard")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
