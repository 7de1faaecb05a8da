"""Text that error messages echo back — unknown field names, choices, bulk item keys — holding
lone surrogates, NUL characters or other hostile code points: always a 400 envelope that is
valid UTF-8 JSON, nothing stored."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from beo_automation.renderers import JSONRenderer
from tests.hostile.conftest import error_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated_cache")]

SURROGATE = "\\ud800"  # a JSON escape: the parsed string holds the lone surrogate U+D800
LOW_SURROGATE = "\\udfff"
NUL = "\\u0000"

# (endpoint, who, path, raw JSON body with {x} standing for the hostile text)
ECHOING = [
    (
        "events-create unknown field",
        "user",
        "/api/events/",
        '{{"type": "a", "payload": {{}}, "{x}": 1}}',
    ),
    (
        "events-create priority",
        "user",
        "/api/events/",
        '{{"type": "a", "payload": {{}}, "priority": "{x}"}}',
    ),
    ("events-create type", "user", "/api/events/", '{{"type": "{x}", "payload": {{}}}}'),
    (
        "events-create payload key",
        "user",
        "/api/events/",
        '{{"type": "a", "payload": {{"{x}": 1}}}}',
    ),
    (
        "events-create payload value",
        "user",
        "/api/events/",
        '{{"type": "a", "payload": {{"k": "{x}"}}}}',
    ),
    ("events-bulk item key", "user", "/api/events/bulk/", '[{{"{x}": 1}}]'),
    (
        "events-bulk priority",
        "user",
        "/api/events/bulk/",
        '[{{"type": "a", "payload": {{}}, "priority": "{x}"}}]',
    ),
    (
        "events-bulk payload",
        "user",
        "/api/events/bulk/",
        '[{{"type": "a", "payload": {{"k": "{x}"}}}}]',
    ),
    ("alerts-resolve unknown field", "staff", "/api/alerts/{alert}/resolve/", '{{"{x}": 1}}'),
    (
        "alerts-resolve resolution",
        "staff",
        "/api/alerts/{alert}/resolve/",
        '{{"resolution": "{x}"}}',
    ),
    (
        "incidents-create unknown field",
        "staff",
        "/api/incidents/",
        '{{"title": "t", "severity": "low", "{x}": 1}}',
    ),
    (
        "incidents-create severity",
        "staff",
        "/api/incidents/",
        '{{"title": "t", "severity": "{x}"}}',
    ),
    ("incidents-create title", "staff", "/api/incidents/", '{{"title": "{x}", "severity": "low"}}'),
    (
        "incidents-create description",
        "staff",
        "/api/incidents/",
        '{{"title": "t", "severity": "low", "description": "{x}"}}',
    ),
    (
        "incidents-create commander",
        "staff",
        "/api/incidents/",
        '{{"title": "t", "severity": "low", "commander": "{x}"}}',
    ),
    (
        "incidents-transition stage",
        "staff",
        "/api/incidents/{incident}/transition/",
        '{{"stage": "{x}"}}',
    ),
    (
        "incidents-transition note",
        "staff",
        "/api/incidents/{incident}/transition/",
        '{{"stage": "assessed", "note": "{x}"}}',
    ),
    (
        "incidents-transition unknown field",
        "staff",
        "/api/incidents/{incident}/transition/",
        '{{"stage": "assessed", "{x}": 1}}',
    ),
    ("token username", "anonymous", "/api/auth/token/", '{{"username": "{x}", "password": "p"}}'),
    (
        "token password",
        "anonymous",
        "/api/auth/token/",
        '{{"username": "alice", "password": "{x}"}}',
    ),
    (
        "token unknown field",
        "anonymous",
        "/api/auth/token/",
        '{{"username": "alice", "password": "p", "{x}": 1}}',
    ),
    ("token-refresh", "anonymous", "/api/auth/token/refresh/", '{{"refresh": "{x}"}}'),
]
HOSTILE_TEXT = [
    ("lone high surrogate", SURROGATE),
    ("lone low surrogate", LOW_SURROGATE),
    ("reversed pair", LOW_SURROGATE + SURROGATE),
    ("surrogate among text", f"ab{SURROGATE}cd"),
    ("NUL", NUL),
    ("NUL among text", f"ab{NUL}cd"),
]


@pytest.fixture
def ids(alert: Any, incident: Any) -> dict[str, int]:
    return {"alert": alert.pk, "incident": incident.pk}


def _status_for(endpoint: str) -> int:
    # simplejwt ignores fields it does not know: a login that fails; the rest is refused.
    return 401 if endpoint == "token unknown field" else 400


@pytest.mark.parametrize("text", [t[1] for t in HOSTILE_TEXT], ids=[t[0] for t in HOSTILE_TEXT])
@pytest.mark.parametrize("case", ECHOING, ids=[e[0] for e in ECHOING])
def test_hostile_text_in_a_body_is_a_4xx_in_valid_json(clients, ids, unchanged, case, text):
    endpoint, who, path, template = case
    body = template.format(x=text)
    json.loads(body)  # the corpus itself is valid JSON syntax

    response = clients[who].post(path.format(**ids), data=body, content_type="application/json")

    error_of(response, _status_for(endpoint))
    unchanged()


@pytest.mark.parametrize(
    "value",
    [
        "\ud800",
        {"\udfff": ["\ud800x"]},
        ["a\ud83d", "\ude00b"],
        {"nested": {"k\ud800": "v"}, "ok": "😀"},
    ],
)
def test_the_renderer_writes_valid_utf8_for_any_text(value):
    rendered = JSONRenderer().render(value)

    parsed = orjson.loads(rendered)
    assert "\ufffd" in json.dumps(parsed, ensure_ascii=False)


def test_the_renderer_keeps_paired_surrogates_and_ordinary_text():
    # Python strings can hold a pair as two code points; it is one character in UTF-8.
    rendered = JSONRenderer().render({"k": "\ud83d\ude00 é \u2028"})

    assert orjson.loads(rendered) == {"k": "😀 é \u2028"}


def test_an_echoed_surrogate_is_replaced_not_dropped(auth_client):
    body = '{"type": "a", "payload": {}, "x\\ud800y": 1}'

    response = auth_client.post("/api/events/", data=body, content_type="application/json")

    assert error_of(response, 400)["details"] == {"x\ufffdy": ["Unknown field."]}
