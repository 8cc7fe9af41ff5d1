"""Batch jobs: one CronjobManager YAML declares hundreds of scheduled jobs."""
