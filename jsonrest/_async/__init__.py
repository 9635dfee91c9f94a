"""The classes of this twin, re-exported by `jsonrest`."""

from ._resource import AsyncResource
from ._resources import AsyncResources
from ._shards import AsyncShards
from ._stream import AsyncLineStream

__all__ = ["AsyncLineStream", "AsyncResource", "AsyncResources", "AsyncShards"]
