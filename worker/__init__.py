"""Celery worker that runs training jobs."""
