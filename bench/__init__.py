"""Benchmarks that print Markdown tables: `venv/bin/python -m bench --help`.

Not tests: pytest does not collect this folder (pyproject's testpaths is `tests`)."""
