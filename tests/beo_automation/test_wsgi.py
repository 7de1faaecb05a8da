"""The WSGI application gunicorn serves."""

from __future__ import annotations

from tests.subprocess_env import python


def test_the_urlconf_and_views_are_loaded_before_the_first_request():
    # A worker that imported them lazily would make its first client wait for the imports.
    result = python(
        "import sys, beo_automation.wsgi; "
        "print(all(m in sys.modules for m in ('beo_automation.urls', 'events.api.views')))",
        DJANGO_SETTINGS_MODULE="beo_automation.settings",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True"
