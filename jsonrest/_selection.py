"""Choosing one host by priority: cheap, random among equals, never a dead one
while a live one is there."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from ._exceptions import NoHostAvailable
from ._health import LIVE, Health
from ._latency import score

__all__ = ["SCAN_UP_TO", "choose", "choose_by_load"]

#: Up to this many candidates every one is compared; beyond, two are sampled.
SCAN_UP_TO = 8


def choose(
    hosts: Sequence[str],
    priority: Callable[[str], Any],
    health: Health,
    rng: random.Random,
) -> str:
    """Choose a host of `hosts` by `priority` (lower is better, None excluded).

    Live hosts always win over hosts that asked to be left alone
    (`Retry-After`), and those over hosts that are down; among the latter two,
    the one whose wait ends first. Equal priorities are broken at random, so
    sequential traffic spreads over the cluster. Beyond `SCAN_UP_TO` hosts it
    samples two and keeps the better ("power of two choices"), which costs the
    same at any size and in any state of health and still steers load away
    from busy hosts; only when neither sample is live does it scan them all.
    """
    count = len(hosts)
    if count > SCAN_UP_TO:
        first = rng.randrange(count)
        second = rng.randrange(count - 1)
        second += second >= first
        a, b = hosts[first], hosts[second]
        pa, pb = priority(a), priority(b)
        healthy = health.all_healthy()
        a_ok = pa is not None and (healthy or health.rank(a) == LIVE)
        b_ok = pb is not None and (healthy or health.rank(b) == LIVE)
        if a_ok and b_ok:
            return b if pb < pa else a
        if a_ok or b_ok:
            return a if a_ok else b
    return _scan(hosts, priority, health, rng)


def _scan(
    hosts: Sequence[str],
    priority: Callable[[str], Any],
    health: Health,
    rng: random.Random,
) -> str:
    healthy = health.all_healthy()
    best_key: Any = None
    best: list[str] = []
    for host in hosts:
        value = priority(host)
        if value is None:
            continue
        rank = LIVE if healthy else health.rank(host)
        if rank == LIVE or rank is None:
            # A host no longer a member ranks as live here: the caller, which
            # owns the membership, skips it and chooses again.
            key = (LIVE, value)
        else:
            key = (rank, health.until(host))
        if best_key is None or key < best_key:
            best_key, best = key, [host]
        elif key == best_key:
            best.append(host)
    if not best:
        raise NoHostAvailable(
            f"no host may be chosen: the priority of every one is None"
            f" ({len(hosts)} host{'s' if len(hosts) > 1 else ''})"
            if hosts
            else "no host was given to choose from"
        )
    return _one_of(best, rng)


def choose_by_load(hosts: Sequence[str], health: Health, rng: random.Random) -> str:
    """`choose` by the default priority (`Health.priority`), in one pass.

    While every host is live (the common case) the priority is the load score
    alone, so it is computed here for all the candidates with one reading of
    the clock, rather than through a call per host; in any other case, or
    beyond `SCAN_UP_TO` hosts, this is `choose` itself.
    """
    if len(hosts) > SCAN_UP_TO or not health.all_healthy():
        return choose(hosts, health.priority, health, rng)
    states = health.states
    now = health.clock()
    decay = health.decay
    best_score = 0.0
    best: list[str] = []
    for host in hosts:
        state = states.get(host)
        if state is None:
            continue  # no member: the caller skips it and chooses again
        value = score(state.cost, state.stamp, now, state.in_flight, decay)
        if not best or value < best_score:
            best_score, best = value, [host]
        elif value == best_score:
            best.append(host)
    if not best:
        return choose(hosts, health.priority, health, rng)  # raises, as it would
    return _one_of(best, rng)


def _one_of(best: list[str], rng: random.Random) -> str:
    """One of `best` at random: `rng.random()` is one C call, where
    `rng.choice` runs a loop of Python for each choice among equals."""
    count = len(best)
    return best[0] if count == 1 else best[int(rng.random() * count)]
