"""Thin HTTP layer: parse, call one service, return."""
