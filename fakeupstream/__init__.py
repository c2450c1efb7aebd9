"""A local fake of the four provider families' wire formats, for tests and benchmarks."""
