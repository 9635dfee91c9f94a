"""The public surface: names, docstrings, generated twin."""

from __future__ import annotations

import inspect
import sys

import pytest

import jsonrest
from jsonrest import _exceptions


def test_all_is_complete_and_sorted() -> None:
    public = {name for name in dir(jsonrest) if not name.startswith("_")}
    public -= {"annotations"}
    modules = {name for name in public if inspect.ismodule(getattr(jsonrest, name))}
    assert set(jsonrest.__all__) == public - modules
    assert jsonrest.__all__ == sorted(jsonrest.__all__)


@pytest.mark.parametrize("name", jsonrest.__all__)
def test_every_public_name_has_a_docstring(name: str) -> None:
    obj = getattr(jsonrest, name)
    assert inspect.getdoc(obj)
    if inspect.isclass(obj):
        for attr, member in vars(obj).items():
            if not attr.startswith("_") and callable(member):
                assert inspect.getdoc(member), f"{name}.{attr}"


def test_errors_share_a_base() -> None:
    for name in _exceptions.__all__:
        assert issubclass(getattr(jsonrest, name), jsonrest.Error)


def test_broadcast_error_is_an_exception_group() -> None:
    if sys.version_info < (3, 11):
        from exceptiongroup import ExceptionGroup
    else:
        ExceptionGroup = (
            __builtins__["ExceptionGroup"]
            if isinstance(__builtins__, dict)
            else __builtins__.ExceptionGroup
        )
    response = jsonrest.Response(200, host="b")
    a = jsonrest.TransportError("down", host="a")
    c = jsonrest.Timeout("slow", host="c")
    error = jsonrest.BroadcastError("2 of 3 hosts failed", [a, c], {"b": response})
    assert isinstance(error, ExceptionGroup)
    assert error.responses == {"b": response}
    timeouts, rest = error.split(jsonrest.Timeout)
    assert isinstance(timeouts, jsonrest.BroadcastError)
    assert timeouts.exceptions == (c,)
    assert timeouts.responses == {"b": response}
    assert rest is not None
    assert rest.exceptions == (a,)
