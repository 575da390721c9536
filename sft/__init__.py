"""semtrace.sft."""
