"""`ShardsBase`: what both `Shards` twins do without awaiting anything.

The key mapping, the per-host priority hook, covers and the making of a
multicast's plan live here once; a twin adds the calls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from ._cluster import ResourcesBase
from ._multicast import Multicast
from ._options import Default
from ._placement import Placement
from ._request import IDEMPOTENT

__all__ = ["ShardsBase", "check_no_quorum", "check_options", "log"]

log = logging.getLogger("jsonrest")

RS = TypeVar("RS", bound=ResourcesBase[Any])


class ShardsBase(Mapping[Hashable, frozenset[str]], Generic[RS]):
    """A mapping of keys to the frozenset of hosts that hold them, over the
    `resources` of every host (`RS`: the twin's Resources type)."""

    placement: Placement
    resources: RS

    def __getitem__(self, key: Hashable) -> frozenset[str]:
        return self.placement[key]

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The hosts of `key`, else `default` (as `Mapping.get`).

        An unknown key that is a path (`"/items/1"`) raises `TypeError`
        rather than quietly returning `default`: to send, use `unicast`.
        """
        if isinstance(key, str) and key.startswith("/") and key not in self.placement:
            raise TypeError(
                f"{type(self).__name__}.get looks up a key's hosts, and {key!r} "
                "is a path: to send it, use unicast(key, 'GET', path)"
            )
        return super().get(key, default)

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self.placement)

    def __len__(self) -> int:
        return len(self.placement)

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"<{name} of {len(self)} keys on {len(self.resources)} hosts>"

    def priority(self, host: str) -> Any:
        """The priority of `host` in covers: lower is better, None removes it.

        Per host, like `Resources.priority`, which it returns by default.
        A cover has the fewest hosts first; among covers of that size it
        prefers the better priorities (the worst member first, then the next).
        Override it to steer multicasts, say towards a zone.
        """
        return self.resources.priority(host)

    def _weight(self) -> Callable[[str], Any]:
        if type(self).priority is ShardsBase.priority:
            return self.resources.priority  # skip a call layer per host
        return self.priority

    def cover(self, keys: Iterable[Hashable]) -> frozenset[str]:
        """The fewest hosts that together hold every key in `keys`.

        Never a removed host (priority None); a host that is down only for
        keys no live host holds; among covers of the fewest hosts the best
        `priority`, then at random. Raises `KeyError` for an unknown key,
        `NoHostAvailable` for a key none of whose hosts may be used.
        """
        _check_keys(keys)
        resources = self.resources
        return self.placement.cover(
            keys, self._weight(), resources.health.live, rng=resources.rng
        )

    def _ordered(self, hosts: Collection[str]) -> list[str]:
        return [host for host in self.resources if host in hosts]

    def _plan(
        self,
        keys: Iterable[Hashable],
        method: str,
        idempotent: bool | None,
        deadline: float | Default | None,
        path: str = "",
    ) -> Multicast:
        """The plan of one multicast, with this shard's hooks and options."""
        resources = self.resources
        _check_keys(keys)
        limit = resources._deadline(deadline)
        if idempotent is None:
            idempotent = isinstance(method, str) and method.upper() in IDEMPOTENT
        return Multicast(
            self.placement,
            keys,
            weight=self._weight(),
            live=resources.health.live,
            rng=resources.rng,
            retries=resources.retries,
            idempotent=idempotent,
            deadline=limit,
            record=resources._record("multicast", method, path),
        )


#: Options of a Resources that a Shards does not take: its hosts are those its
#: placement names, so no source may change them.
DISCOVERY = ("discover", "refresh", "min_refresh", "discover_timeout", "allow_empty")


def check_options(kind: str, options: Mapping[str, Any]) -> None:
    """`TypeError` for a discovery option given to a Shards."""
    named = [name for name in DISCOVERY if name in options]
    if named:
        raise TypeError(
            f"{kind} does not take {', '.join(named)}: its hosts are those its "
            "placement names (discovery is for Resources)"
        )


def check_no_quorum(kw: Mapping[str, Any]) -> None:
    """`TypeError` for a quorum given to multicast, which needs every key."""
    if "quorum" in kw:
        raise TypeError(
            "multicast takes no quorum: each key needs its own answer; "
            "for a quorum of the hosts of one key, use broadcast(key, ..., quorum=k)"
        )


def _check_keys(keys: Iterable[Hashable]) -> None:
    # A str is an iterable of one-letter keys: almost always a slip.
    if isinstance(keys, (str, bytes)):
        raise TypeError(
            f"keys must be an iterable of keys, not one {type(keys).__name__}: "
            f"for the one key {keys!r}, pass [{keys!r}]"
        )
