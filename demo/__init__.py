"""The demo: a small JSON cluster on 127.0.0.1, and a tour of jsonrest against it.

Not part of the installed package: run it from a checkout with `nox -s demo`
(or `python -m demo`, with jsonrest installed). `python -m demo --serve` keeps
the cluster up for trying the `jsonrest` command (docs/cli.md).
"""
