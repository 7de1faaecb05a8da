"""The two per-process caches in front of JWT authentication (beo_automation.authentication).

- The user a token names is looked up once per JWT_USER_CACHE_SECONDS per process, not on every
  request (ORM work in the worker and a PostgreSQL backend's CPU on the same cores). What is
  cached is the row, and every request gets a fresh instance built from it, so nothing a view
  does to `request.user` leaks into another request. Saving or deleting a user clears its row
  in the process that did it at once; other processes see a deactivation, a deletion or a
  change of staff status within JWT_USER_CACHE_SECONDS (0 looks the user up on every request).
- A token's signature and claims are verified once per process: the verified token is kept,
  keyed by its exact bytes, until its `exp` (plus SIMPLE_JWT's leeway) passes, so a client
  calling with the same token skips the HMAC and JSON decoding on later requests. Only what was
  verified is kept, so a forged or altered token never hits; an expired one is verified again
  and refused as "Token expired". At most VERIFIED_TOKENS_MAX are kept.

No view or model imports: DRF imports the authentication class, and with it this module, while
it builds APIView.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.db.models import Model
from django.db.models.signals import post_delete, post_save
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token


class UserRowCache:
    """Token user id (as text) -> (expires at, model, database alias, field names, values)."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[float, type[Model], str, list[str], list[Any]]] = {}
        self._lock = threading.Lock()

    def get(self, user_id: Any) -> Model | None:
        entry = self._rows.get(str(user_id))
        if entry is None:
            return None
        expires, model, db, names, values = entry
        if time.monotonic() >= expires:
            self.forget(user_id)
            return None
        return model.from_db(db, names, values)

    def put(self, user_id: Any, user: Model, *, seconds: float) -> None:
        names = [field.attname for field in user._meta.concrete_fields]
        values = [getattr(user, name) for name in names]
        entry = (time.monotonic() + seconds, type(user), user._state.db or "default", names, values)
        with self._lock:
            self._rows[str(user_id)] = entry

    def forget(self, user_id: Any) -> None:
        with self._lock:
            self._rows.pop(str(user_id), None)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


user_rows = UserRowCache()


class VerifiedTokens:
    """Raw access token -> (its verified Token, epoch second from which it is no longer valid).

    A Token here is shared by every request that presents those bytes: read it, never change it.
    """

    def __init__(self, *, limit: int) -> None:
        self._tokens: dict[bytes, tuple[Token, float]] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def get(self, raw_token: bytes) -> Token | None:
        entry = self._tokens.get(raw_token)
        if entry is None:
            return None
        token, invalid_from = entry
        if time.time() < invalid_from:
            return token
        with self._lock:
            self._tokens.pop(raw_token, None)
        return None

    def put(self, raw_token: bytes, token: Token) -> None:
        exp = token.payload.get("exp")
        if not isinstance(exp, int | float):
            return
        leeway = token.get_token_backend().get_leeway().total_seconds()
        with self._lock:
            if raw_token not in self._tokens and len(self._tokens) >= self._limit:
                # Insertion order: the oldest token goes first.
                self._tokens.pop(next(iter(self._tokens)))
            self._tokens[raw_token] = (token, exp + leeway)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


VERIFIED_TOKENS_MAX = 10_000
verified_tokens = VerifiedTokens(limit=VERIFIED_TOKENS_MAX)


def _on_user_change(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    user_rows.forget(getattr(instance, api_settings.USER_ID_FIELD))


# A lazy "app_label.ModelName" sender: DRF imports this module while it builds APIView, before
# the app registry is ready, and other models' saves (every event) must not call this at all.
post_save.connect(
    _on_user_change,
    sender=settings.AUTH_USER_MODEL,
    dispatch_uid="beo_automation.jwt_caches.user_saved",
)
post_delete.connect(
    _on_user_change,
    sender=settings.AUTH_USER_MODEL,
    dispatch_uid="beo_automation.jwt_caches.user_deleted",
)
