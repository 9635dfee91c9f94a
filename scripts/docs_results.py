#!/usr/bin/env python3
"""Copy benchmarks/RESULTS.md and its charts into docs/ for the docs build.

The copies are build inputs, not sources: .gitignore keeps them out of git.
"""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
results = ROOT / "benchmarks" / "RESULTS.md"
target = ROOT / "docs" / "results.md"
if results.exists():
    text = results.read_text()
    charts = sorted((ROOT / "benchmarks").glob("*.png"))
    for chart in charts:
        shutil.copyfile(chart, ROOT / "docs" / chart.name)
    if charts:  # RESULTS.md links the charts; the site shows them too
        text = text.rstrip("\n") + "\n\n## Charts\n\n"
        text += "".join(f"![{chart.stem}]({chart.name})\n\n" for chart in charts)
    target.write_text(text)
else:
    target.write_text(
        "# Benchmark results\n\nNot measured in this checkout: run `nox -s bench`, "
        "which writes benchmarks/RESULTS.md, then `nox -s docs`.\n"
    )
print(f"wrote {target.relative_to(ROOT)}")
