from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "beo_automation.settings")

application = get_wsgi_application()

# Load the URLconf, and with it every view, DRF and the schema machinery, as each gunicorn worker
# boots: otherwise the first request a new worker serves pays about a second for the imports.
get_resolver().url_patterns  # noqa: B018 - evaluated for its side effect (the import)
