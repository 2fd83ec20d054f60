"""Where a check's time goes beyond the framework baseline (entry: bench.profiling.main),
and the state file's read and write (bench.profiling.statefile)."""
