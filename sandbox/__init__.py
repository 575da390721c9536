"""semtrace.sandbox."""
