"""semtrace.benchmarks."""
