"""Prometheus metrics, one small module per concern (gateway, jobs, upstream, webhooks,
pipeline), each with one-line hooks at its call sites; `state` computes the gauges read from the
database and Redis at scrape time; `exporter` serves a worker host's metrics.

Importing this package first decides where the values live (shared/metrics/process.py): a
Celery worker's pool processes write them to files under data_dir/metrics, so that every
process counts. prometheus_client reads that choice when it is imported, so every module here
imports it only after this package's own import.
"""

from shared.metrics import process as _process

_process.prepare()
