"""Maintenance operations, one module each. Commands, Celery tasks and the admin call these."""
