"""Grafana dashboards for lotse, generated from code (see build.py)."""
