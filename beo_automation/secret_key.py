"""Validation of SECRET_KEY, kept free of Django imports so settings can use it."""

from __future__ import annotations

MIN_LENGTH = 50
MIN_UNIQUE_CHARACTERS = 5

# Values copied from tutorials, templates and this project's own docs: a key that anyone
# can read is no key at all.
KNOWN_INSECURE_KEYS = frozenset(
    {
        "changeme",
        "change-me",
        "secret",
        "secretkey",
        "secret_key",
        "your-secret-key",
        "your_secret_key",
        "insecure",
        "development",
        "dev",
        "test",
        "django",
        "replace-me-with-a-long-random-string-from-generate-secret-key",
    }
)


def secret_key_problem(key: str | None) -> str | None:
    """Return why `key` is unfit for production, or None when it is acceptable."""
    if not key:
        return "SECRET_KEY is not set"
    if key.lower() in KNOWN_INSECURE_KEYS or key.startswith("django-insecure"):
        return "SECRET_KEY is a known insecure value"
    if len(key) < MIN_LENGTH:
        return f"SECRET_KEY is too short ({len(key)} characters, at least {MIN_LENGTH} required)"
    if len(set(key)) < MIN_UNIQUE_CHARACTERS:
        return "SECRET_KEY is not random enough (fewer than 5 distinct characters)"
    return None
