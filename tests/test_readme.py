"""The README documents every environment variable the settings read."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["beo_automation/settings.py", "beo_automation/gunicorn_conf.py", "Procfile"]
PATTERNS = [
    re.compile(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""os\.environ\.get\(\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""\$\{([A-Z][A-Z0-9_]+)"""),
]


def variables_read() -> set[str]:
    found: set[str] = set()
    for source in SOURCES:
        text = (ROOT / source).read_text()
        for pattern in PATTERNS:
            found.update(pattern.findall(text))
    return found


def test_every_environment_variable_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    table = {
        m
        for row in readme.splitlines()
        if row.startswith("|")
        for m in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)
    }
    variables = variables_read()
    assert len(variables) > 30, "the scan should find the settings' variables"
    assert sorted(variables - table) == []


def test_the_readme_shows_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme
    assert "make test" in readme
