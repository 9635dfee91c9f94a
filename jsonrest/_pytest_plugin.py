"""The pytest plugin jsonrest installs: the `jsonrest_cluster` fixture.

It imports respx only when a test asks for the fixture, so installing
jsonrest never breaks a test run that lacks respx.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .testing import ClusterFactory, MockCluster


@pytest.fixture
def jsonrest_cluster() -> Iterator[ClusterFactory]:
    """A `ClusterFactory`: it makes `MockCluster`s, all on one respx router that
    is active for the test."""
    try:
        import respx
    except ImportError:
        from . import testing  # noqa: F401 (its ImportError says what to install)

        raise
    from .testing import MockCluster

    with respx.mock(assert_all_called=False) as router:

        def factory(hosts: Iterable[str], /) -> MockCluster:
            return MockCluster(hosts, router=router)

        yield factory
