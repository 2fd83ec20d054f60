"""What the benchmarks share: the package installed, one process timed, the results file,
the tiers' lock and the measured processes' environment."""
