"""Prometheus rules for lotse: the service-level formulas, recording rules and alerts."""
