"""WSGI entry point for gunicorn: `gunicorn wsgi:app`."""

import gc

from portal import create_app

app = create_app()
# What the app holds from here on (modules, mappers, registries: about 230,000 objects) lives as long as the
# worker: kept out of the collector, a full collection scans only newer objects (about 20 ms of CPU instead of
# 250 ms, during which the worker answered nobody). Not in create_app: tests build many apps and drop them.
gc.freeze()
