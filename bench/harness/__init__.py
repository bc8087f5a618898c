"""The side-by-side benchmark harness: ``bash bench/run.sh [--quick]`` (see bench/README.md)."""
