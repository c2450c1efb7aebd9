"""Benchmarks (one command each): `python -m bench.gateway`, `python -m bench.metering`."""
