"""A Xero emulator for development, tests, the demo and benchmarks (not part of the deployed layer)."""
