"""semtrace.representations."""
