"""Exit statuses of `python -m linly_demo` (0 is success)."""

EXIT_FAILED = 1
EXIT_REJECTED = 2
EXIT_BELOW_TARGET = 3
