"""Benchmarks and the national-scale data generator (issue 6, DESIGN §9); not the service."""
