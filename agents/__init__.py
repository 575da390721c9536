"""semtrace.agents."""
