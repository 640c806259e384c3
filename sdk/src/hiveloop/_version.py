"""The SDK's version, as sent in every batch envelope."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hiveloop")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

SDK_VERSION = f"hiveloop-{__version__}"
