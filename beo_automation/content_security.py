"""Content-Security-Policy (django-csp): one policy for the pages staff look at, a strict one
for everything else.

HTML (the admin, the Swagger UI at /api/docs/) gets settings.CONTENT_SECURITY_POLICY: scripts,
styles, fonts and fetches from this origin only, images also as data: URIs (the admin's and
Swagger UI's icons), no plugins, forms posting only here, never framed. Every other response
(the API's JSON, the schema, /metrics, the Swagger UI's init script) gets
`default-src 'none'; frame-ancestors 'none'`: a JSON body opened in a browser can load nothing
and be framed by no one.

A view's django-csp decorators (csp_update, csp_replace, csp_exempt) still apply to HTML.
"""

from __future__ import annotations

from csp.constants import NONE
from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest
from django.http.response import HttpResponseBase

STRICT_POLICY = {"default-src": [NONE], "frame-ancestors": [NONE]}


def is_html(response: HttpResponseBase) -> bool:
    content_type = response.get("Content-Type", "")
    return content_type.split(";", 1)[0].strip().lower() == "text/html"


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and not is_html(response):
            return PolicyParts(config=STRICT_POLICY, nonce=parts.nonce)
        return parts
