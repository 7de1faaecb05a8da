"""Production serves static files by the hashed names in collectstatic's manifest: without it
every page that links a static file (the admin, /api/docs/) fails with a 500. The web process
refuses to start instead (wsgi.py), and `manage.py check --deploy` reports it."""

from __future__ import annotations

from typing import Any

from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core.checks import CheckMessage, Error, Tags, register

FIX = "run `python manage.py collectstatic --no-input` before starting the web process"


def static_manifest_problem() -> str | None:
    """What is wrong with the static files manifest the storage needs, or None."""
    if not isinstance(staticfiles_storage, ManifestFilesMixin):
        return None  # DEBUG: files are served from the finders, no manifest needed
    if staticfiles_storage.manifest_storage.exists(staticfiles_storage.manifest_name):
        return None
    where = staticfiles_storage.manifest_storage.path(staticfiles_storage.manifest_name)
    return f"The static files manifest {where} is missing: {FIX}."


@register(Tags.staticfiles, deploy=True)
def static_manifest_exists(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    problem = static_manifest_problem()
    return [Error(problem, id="beo_automation.E010")] if problem else []
