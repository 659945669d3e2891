"""Benchmarks: `make bench` runs them all (`python -m bench.run_all`); never in `make test`."""
