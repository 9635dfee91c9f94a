"""jsonrest: REST/JSON clients for one host, many hosts and sharded clusters.

Blocking classes have plain names (`Resource`); their awaitable twins carry the
`Async` prefix (`AsyncResource`) and run on asyncio or trio.
"""

import logging

from ._async import AsyncLineStream, AsyncResource, AsyncResources, AsyncShards
from ._budget import RetryBudget
from ._discovery import Member
from ._exceptions import (
    BodyTooLarge,
    BroadcastError,
    DecodeError,
    Error,
    NoHostAvailable,
    StatusError,
    Timeout,
    TransportError,
)
from ._hedge import Hedge
from ._outliers import Outliers
from ._response import Response
from ._sources import dns, sniff, srv
from ._sync import LineStream, Resource, Resources, Shards
from ._telemetry import OpenTelemetry

__version__ = "0.1.0"

# Without logging configured, Python prints warnings (a failover) to stderr;
# a library leaves that choice to the application.
logging.getLogger("jsonrest").addHandler(logging.NullHandler())

__all__ = [
    "AsyncLineStream",
    "AsyncResource",
    "AsyncResources",
    "AsyncShards",
    "BodyTooLarge",
    "BroadcastError",
    "DecodeError",
    "Error",
    "Hedge",
    "LineStream",
    "Member",
    "NoHostAvailable",
    "OpenTelemetry",
    "Outliers",
    "Resource",
    "Resources",
    "Response",
    "RetryBudget",
    "Shards",
    "StatusError",
    "Timeout",
    "TransportError",
    "dns",
    "sniff",
    "srv",
]
