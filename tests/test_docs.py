"""The README and docs/ say what the code does: variables, schedule, commands, links."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"
OPERATIONS = ROOT / "docs" / "operations.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]

# Where the settings read the environment: the settings module (or package), gunicorn's config
# and the Procfile's ${VAR} expansions.
PATTERNS = [
    re.compile(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""os\.environ\.get\(\s*["']([A-Z][A-Z0-9_]+)["']"""),
    re.compile(r"""\$\{([A-Z][A-Z0-9_]+)"""),
]


def setting_sources() -> list[Path]:
    package = ROOT / "beo_automation"
    sources = [
        *package.glob("settings.py"),
        *package.glob("settings/**/*.py"),
        *ROOT.glob("*/gunicorn_conf.py"),
        ROOT / "Procfile",
    ]
    return [path for path in sources if path.is_file()]


def variables_read() -> set[str]:
    found: set[str] = set()
    for source in setting_sources():
        text = source.read_text()
        for pattern in PATTERNS:
            found.update(pattern.findall(text))
    return found


def variables_documented() -> set[str]:
    """The variables named in the first column of the configuration table."""
    names: set[str] = set()
    for row in CONFIGURATION.read_text().splitlines():
        if row.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1]))
    return names


def prose(page: Path) -> str:
    """The page without its fenced code blocks (links and headings inside them are not links)."""
    return re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {anchor(m) for m in re.findall(r"^#{1,6} (.+)$", prose(page), flags=re.M)}


def test_every_environment_variable_is_in_the_configuration_table():
    variables = variables_read()
    assert len(variables) > 30, "the scan should find the settings' variables"
    documented = variables_documented()
    assert sorted(variables - documented) == [], "read by the settings, missing from the table"
    assert sorted(documented - variables) == [], "in the table, no longer read by the settings"


def test_the_readme_is_short_and_shows_the_commands():
    readme = README.read_text()
    assert len(readme.splitlines()) <= 130, "the README is a ten-minute read; details go to docs/"
    for command in ("make run", "make test", "make manage", "DATABASE_URL", "REDIS_URL"):
        assert command in readme
    assert "createsuperuser" in readme, "the README says how to create the first staff user"


def test_the_readme_maps_every_page_of_docs():
    readme = README.read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"](docs/{page.name})" in readme, f"docs/{page.name} is not in the README's map"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", prose(page)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(target)
            continue
        if fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            broken.append(target)
    assert broken == []


def test_every_make_target_the_docs_name_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.M))
    named = {m for page in PAGES for m in re.findall(r"`make ([a-z][a-z-]*)", page.read_text())}
    assert named, "the docs name make targets"
    assert sorted(named - targets) == []


def test_every_manage_command_the_docs_name_exists():
    commands = set(get_commands())
    named: set[str] = set()
    for page in PAGES:
        text = page.read_text()
        named.update(re.findall(r"manage\.py ([a-z][a-z_]+)", text))
        for args in re.findall(r'make manage ARGS=("[^"]*"|[^\s`]+)', text):
            named.add(shlex.split(args.strip('"'))[0])
    named = {name for name in named if not name.startswith("<")}  # "<command>" placeholders
    assert {"health_check", "createsuperuser", "restore_db"} <= named
    assert sorted(named - commands) == []


def test_the_beat_schedule_table_lists_every_job():
    rows = re.findall(
        r"^\| `([a-z_]+)` \| `([^`]+)`[^|]*\| `([a-z_.]+)` \|", OPERATIONS.read_text(), flags=re.M
    )
    documented = {name: (cron, task) for name, cron, task in rows}
    scheduled = {
        job.name: (job.cron, job.task)
        for job in getattr(settings, "SCHEDULED_JOBS", ())
        if job.name in settings.CELERY_BEAT_SCHEDULE
    } or {name: (None, entry["task"]) for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}
    assert set(documented) == set(scheduled)
    for name, (cron, task) in scheduled.items():
        assert documented[name][1] == task, name
        assert cron is None or documented[name][0] == cron, name
