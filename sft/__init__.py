"""semtrace.sft: fine-tuning data built with the agent's own renderers and prompt builders (``semtrace sft build``),
and an optional LoRA trainer (``semtrace sft train``, the ``train`` extra). See README.md."""
