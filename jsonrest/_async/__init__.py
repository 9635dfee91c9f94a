"""The classes of this twin, re-exported by `jsonrest`."""

from ._resource import AsyncResource

__all__ = ["AsyncResource"]
