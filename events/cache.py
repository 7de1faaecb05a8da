"""Per-owner cache versions for event lists: any change to an owner's events makes their
cached lists unreachable at once.

List responses are cached under a key that includes the owner's current version. Every write
to an owner's events (create, retry, cancel, a worker's claim and outcome) replaces that
version after the transaction commits, so a reader can never cache pre-commit data under the
new version and never sees a stale status after a write. Staff lists across all owners use a
global version bumped on every change.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.core.cache import cache
from django.db import transaction

GLOBAL = "all"


def _version_key(scope: int | str) -> str:
    return f"events:list-version:{scope}"


def events_list_version(*, scope: int | str) -> str:
    """The current version for an owner id (or GLOBAL); created on first use."""
    key = _version_key(scope)
    version = cache.get(key)
    if version is None:
        version = uuid.uuid4().hex
        # add(): when two readers race, both end up with the value that won.
        if not cache.add(key, version, timeout=None):
            version = cache.get(key) or version
    return str(version)


def events_new_versions(*, owner_ids: Iterable[int]) -> dict[str, str]:
    """The cache writes that invalidate these owners' lists and the staff lists (none for no
    owners). Written only after the change commits: see events_changed."""
    scopes: list[int | str] = sorted(set(owner_ids))
    if not scopes:
        return {}
    scopes.append(GLOBAL)
    return {_version_key(scope): uuid.uuid4().hex for scope in scopes}


def events_changed(*, owner_ids: Iterable[int]) -> None:
    """Invalidate the cached lists of these owners (and the staff lists) after commit."""
    versions = events_new_versions(owner_ids=owner_ids)
    if not versions:
        return

    def bump() -> None:
        cache.set_many(versions, timeout=None)

    transaction.on_commit(bump, robust=True)
