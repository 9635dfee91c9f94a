"""The pytest plugin jsonrest installs: the `jsonrest_cluster` fixture.

It imports respx only when a test asks for the fixture, so installing
jsonrest never breaks a test run that lacks respx.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .testing import MockCluster


@pytest.fixture
def jsonrest_cluster() -> Iterator[Callable[[Iterable[str]], MockCluster]]:
    """A factory of `MockCluster`s, all on one respx router active for the test."""
    import respx

    from .testing import MockCluster

    with respx.mock(assert_all_called=False) as router:
        yield lambda hosts: MockCluster(hosts, router=router)
