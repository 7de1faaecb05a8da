from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "beo_automation.settings")

django_application = get_wsgi_application()

# Imported once Django is set up (they reach the settings and DRF).
from django.conf import settings  # noqa: E402

from beo_automation.probe_lane import ProbeLane  # noqa: E402
from beo_automation.request_body import RequestBodyReader  # noqa: E402
from beo_automation.static_files import static_manifest_problem  # noqa: E402

# Bodies are read whole (chunked ones included) and checked before Django sees them.
application = ProbeLane(RequestBodyReader(django_application), port=settings.HEALTH_PORT)

# Load the URLconf, and with it every view, DRF and the schema machinery, as each gunicorn worker
# boots: otherwise the first request a new worker serves pays about a second for the imports.
get_resolver().url_patterns  # noqa: B018 - evaluated for its side effect (the import)

# A worker that would answer 500 on every page with a static file does not start at all.
if problem := static_manifest_problem():
    raise ImproperlyConfigured(problem)
