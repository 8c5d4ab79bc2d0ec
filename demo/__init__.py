"""Demo data: an open catalog of arranged public-domain works, invented artists and their symbolic corpus.

Offline generators for benchmarks, tests and the demo; no product code imports this package.
"""
