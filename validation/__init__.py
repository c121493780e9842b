"""Simulation study of the premium estimator: level, coverage, power, bias (docs/validation.md)."""
