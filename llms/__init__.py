"""semtrace.llms."""
