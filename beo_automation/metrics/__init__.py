"""Measurements of this service: host resources (resources.py), request counts and latencies
(requests.py, recorded by middleware.py) and GET /metrics (prometheus.py). The health checks
and the alert rules read the same functions."""
