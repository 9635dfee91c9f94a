"""Every Python example in README.md and docs/ runs, against a MockCluster."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import respx

from jsonrest.testing import MockCluster

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
HOST = re.compile(r"""["'](?:https?://)?([A-Za-z][\w.-]*:\d{2,5})["']""")

EXAMPLES = [
    pytest.param(code, id=f"{path.name}:{text[: match.start()].count(chr(10)) + 1}")
    for path in FILES
    if path.exists()
    for text in [path.read_text()]
    for match in BLOCK.finditer(text)
    for code in [match.group(1)]
]


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 8


@pytest.mark.parametrize("code", EXAMPLES)
def test_example_runs(code: str) -> None:
    namespace: dict[str, object] = {"__name__": "example"}
    if "jsonrest.testing" in code and "def test_" not in code:
        exec(compile(code, "example", "exec"), namespace)  # it mocks by itself
        return
    with respx.mock(assert_all_called=False) as router:
        if "def test_" not in code:  # a test example sets up its own fake hosts
            cluster = MockCluster(sorted(set(HOST.findall(code))), router=router)
            for fake in cluster:
                fake.route("*", "*", json={"host": fake.host})
        exec(compile(code, "example", "exec"), namespace)
        tests = [f for name, f in namespace.items() if name.startswith("test_")]
        for test in tests:
            assert callable(test)
            test(lambda hosts: MockCluster(hosts, router=router))
