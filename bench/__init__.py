"""Benchmarks and the national-scale data generator; not the service."""
