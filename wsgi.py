"""WSGI entry point for gunicorn: `gunicorn wsgi:app`."""

import gc

from portal import create_app

app = create_app()
# Every template compiled while the worker boots (about 2 s), not by the first user of each page after a start
# or a deploy (a report's first request spent 300 ms compiling its templates).
for name in app.jinja_env.list_templates(filter_func=lambda name: name.endswith(".html")):
    app.jinja_env.get_template(name)
# What the app holds from here on (modules, mappers, registries, compiled templates: about 230,000 objects) lives
# as long as the worker: kept out of the collector, a full collection scans only newer objects (about 20 ms of CPU
# instead of 250 ms, during which the worker answered nobody). Not in create_app: tests build many apps and drop
# them.
gc.freeze()
