#!/usr/bin/env python3
"""Copy benchmarks/RESULTS.md and its charts into docs/ for the docs build."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
results = ROOT / "benchmarks" / "RESULTS.md"
target = ROOT / "docs" / "results.md"
if results.exists():
    shutil.copyfile(results, target)
    for chart in (ROOT / "benchmarks").glob("*.png"):
        shutil.copyfile(chart, ROOT / "docs" / chart.name)
else:
    target.write_text("# Benchmark results\n\nRun `nox -s bench` to produce them.\n")
print(f"wrote {target.relative_to(ROOT)}")
