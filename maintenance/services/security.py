"""security_check: the operations guide's security checklist, evaluated against this process.

Each item is checked for real, not read from a document:
- authentication: every view under /api/ is resolved from the URL conf and each of its HTTP
  methods is asked, with an anonymous request, whether it would let the caller in (DRF's own
  permission check); only the public endpoints the API promises may say yes;
- rate limiting: the rate-limit middleware is driven with requests from a documentation-range
  address until it answers 429;
- input validation: every write method of every API view must validate its body with a
  serializer (or declare that it takes none);
- parameterized SQL: the project's source is parsed and every execute()/raw()/RawSQL() whose
  SQL is built by f-string, `%`, `+` or `.format()` is reported (identifiers quoted by a
  quoting function are allowed);
- HTTPS and security headers: settings plus a real request through the middleware stack;
- dependencies: uv.lock present and covering pyproject.toml; pip-audit's verdict when it is
  installed and its vulnerability service answers;
- secrets from the environment, errors that do not leak (DEBUG off), audit logging.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import ipaddress
import json
import logging
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver

from maintenance.services.run_records import RunContext, run_recorded

Status = Literal["pass", "fail", "warn"]

# The endpoints the API promises to serve without a token (issue: health, token, API docs).
PUBLIC_API_PATHS = frozenset(
    {
        "/api/health/",
        "/api/health/live/",
        "/api/auth/token/",
        "/api/auth/token/refresh/",
        "/api/schema/",
        "/api/docs/",
    }
)
WRITE_METHODS = ("post", "put", "patch")
# Calls that run SQL text, and the quoting helpers allowed inside a formatted SQL string.
SQL_CALLS = frozenset({"execute", "executemany", "raw", "extra", "RawSQL", "mogrify"})
QUOTING_CALLS = frozenset(
    {"quote_name", "quote_table", "quote_identifier", "Identifier", "Literal", "as_string"}
)
SECRET_NAME_PARTS = ("SECRET", "PASSWORD", "TOKEN", "API_KEY", "PRIVATE_KEY")
PIP_AUDIT_TIMEOUT = 120


@dataclasses.dataclass(frozen=True, kw_only=True)
class CheckResult:
    name: str
    status: Status
    reason: str
    details: list[str] = dataclasses.field(default_factory=list)

    @property
    def mark(self) -> str:
        return {"pass": "✓", "fail": "✗", "warn": "!"}[self.status]


@dataclasses.dataclass(frozen=True, kw_only=True)
class SecurityReport:
    checks: list[CheckResult]

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "fail"]

    def summary_line(self) -> str:
        passed = sum(1 for c in self.checks if c.status == "pass")
        warned = sum(1 for c in self.checks if c.status == "warn")
        return (
            f"{passed} passed, {len(self.failed)} failed, {warned} warnings "
            f"({len(self.checks)} checklist items)."
        )


def security_check(
    *, source_root: Path | None = None, run_pip_audit: bool = True, context: RunContext
) -> SecurityReport:
    """Evaluate every checklist item; the report says ✓/✗/! per item with the reason."""
    root = source_root or Path(settings.BASE_DIR)
    arguments = {"source_root": str(root), "pip_audit": run_pip_audit}
    with run_recorded(operation="security_check", arguments=arguments, context=context) as run:
        checks: list[CheckResult] = []
        endpoints = list(api_endpoints())
        for name, check in (
            ("All API endpoints authenticated", lambda: check_authentication(endpoints)),
            ("Rate limiting enabled", check_rate_limiting),
            ("Input validation on write endpoints", lambda: check_validation(endpoints)),
            ("Parameterized database queries", lambda: check_sql(project_sources(root))),
            ("HTTPS enforced", check_https),
            ("Security headers configured", check_headers),
            ("Dependencies locked and audited", lambda: check_dependencies(root, run_pip_audit)),
            ("Secrets in environment variables", check_secrets),
            ("Error messages don't leak sensitive data", check_errors),
            ("Audit logs enabled", check_audit_logging),
        ):
            try:
                result = check()
            except Exception as exc:  # noqa: BLE001 - a check that cannot run is a failure
                result = CheckResult(
                    name=name, status="fail", reason=f"could not be evaluated: {exc!r}"
                )
            checks.append(dataclasses.replace(result, name=name))
        report = SecurityReport(checks=checks)
        run.summary = {
            "passed": sum(1 for c in checks if c.status == "pass"),
            "failed": [c.name for c in report.failed],
            "warnings": [c.name for c in checks if c.status == "warn"],
        }
        return report


# --- URL conf introspection ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Endpoint:
    path: str
    callback: Callable[..., Any]

    @property
    def view_class(self) -> type | None:
        return getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)

    @property
    def is_drf(self) -> bool:
        from rest_framework.views import APIView

        cls = self.view_class
        return cls is not None and issubclass(cls, APIView)

    def methods(self) -> list[str]:
        cls = self.view_class
        if cls is None:
            return []
        actions = getattr(self.callback, "actions", None)
        if actions:
            return sorted(actions)
        names: list[str] = getattr(cls, "http_method_names", [])
        return [m for m in names if m not in {"options", "head"} and hasattr(cls, m)]


def _walk(patterns: list[Any], prefix: str) -> Iterator[Endpoint]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield Endpoint("/" + prefix + str(pattern.pattern), pattern.callback)


def api_endpoints() -> Iterator[Endpoint]:
    """Every route under /api/ (paths as written in the URL conf, regex routes included)."""
    for endpoint in _walk(get_resolver().url_patterns, ""):
        if endpoint.path.startswith(("/api/", "/^api/")):
            yield endpoint


def _anonymous_allowed(endpoint: Endpoint, method: str) -> bool:
    """Would DRF let an anonymous caller through this method's permission check?"""
    from rest_framework import exceptions
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    cls = endpoint.view_class
    assert cls is not None
    view = cls(**(getattr(endpoint.callback, "initkwargs", None) or {}))
    django_request = APIRequestFactory().generic(method.upper(), endpoint.path)
    request = Request(django_request, authenticators=view.get_authenticators())
    view.request = request
    view.args, view.kwargs = (), {}
    view.format_kwarg = None
    view.action_map = getattr(endpoint.callback, "actions", None)
    try:
        view.check_permissions(request)
    except (exceptions.NotAuthenticated, exceptions.AuthenticationFailed):
        return False
    except exceptions.PermissionDenied:
        return False
    return True


def check_authentication(endpoints: list[Endpoint]) -> CheckResult:
    protected, public, unexpected, unverifiable = 0, [], [], []
    for endpoint in endpoints:
        # The catch-all that answers 404 with the envelope for unknown /api/ paths.
        if getattr(endpoint.callback, "__name__", "") == "api_not_found":
            continue
        if not endpoint.is_drf:
            if endpoint.path in PUBLIC_API_PATHS:
                public.append(endpoint.path)
            else:
                unverifiable.append(f"{endpoint.path} (not a DRF view: authentication unknown)")
            continue
        open_methods = [m.upper() for m in endpoint.methods() if _anonymous_allowed(endpoint, m)]
        if not open_methods:
            protected += 1
        elif endpoint.path in PUBLIC_API_PATHS:
            public.append(endpoint.path)
        else:
            unexpected.append(f"{endpoint.path} ({', '.join(open_methods)} without a token)")
    problems = unexpected + unverifiable
    if problems:
        return CheckResult(
            name="",
            status="fail",
            reason=f"{len(problems)} API endpoint(s) can be used without authentication",
            details=problems,
        )
    return CheckResult(
        name="",
        status="pass",
        reason=f"{protected} endpoints require a token; public by design: "
        + (", ".join(sorted(public)) or "none"),
    )


SELF_CALL = re.compile(r"\bself\.(\w+)\(")
BODY_READS = ("request.data", "request.POST", "request.body", "request.FILES")
VALIDATION_CALLS = ("is_valid(", "_validate(")


def _method_sources(cls: type, method: str, *, depth: int = 2) -> list[str]:
    """The method's source in the class and, while it calls super(), in its bases; plus the
    sources of the `self.<helper>()` methods it calls (to `depth` levels)."""
    sources = []
    for klass in cls.__mro__:
        function = klass.__dict__.get(method)
        if function is None:
            continue
        try:
            source = inspect.getsource(function)
        except (OSError, TypeError):
            break
        sources.append(source)
        if "super()" not in source:
            break
    if depth > 0:
        helpers = {name for src in sources for name in SELF_CALL.findall(src)} - {method}
        for helper in sorted(helpers):
            if inspect.isfunction(getattr(cls, helper, None)):
                sources += _method_sources(cls, helper, depth=depth - 1)
    return sources


def check_validation(endpoints: list[Endpoint]) -> CheckResult:
    checked, bodiless, problems = 0, 0, []
    for endpoint in endpoints:
        cls = endpoint.view_class
        if not endpoint.is_drf or cls is None:
            continue
        actions = getattr(endpoint.callback, "actions", None) or {}
        for method in endpoint.methods():
            if method not in WRITE_METHODS:
                continue
            sources = _method_sources(cls, actions.get(method, method))
            checked += 1
            if any(call in src for src in sources for call in VALIDATION_CALLS):
                continue
            if not any(read in src for src in sources for read in BODY_READS):
                bodiless += 1  # takes no input: nothing to validate
                continue
            problems.append(
                f"{method.upper()} {endpoint.path}: reads the request body without a "
                "serializer's is_valid() or a *_validate() service"
            )
    if problems:
        return CheckResult(
            name="",
            status="fail",
            reason=f"{len(problems)} write endpoint(s) do not validate their input",
            details=problems,
        )
    return CheckResult(
        name="",
        status="pass",
        reason=f"{checked - bodiless} write endpoints validate their body; {bodiless} take none",
    )


# --- Rate limiting -------------------------------------------------------------------------


def _rate_limit_middleware() -> type | None:
    for dotted in settings.MIDDLEWARE:
        if "ratelimit" in dotted.lower():
            module, _, name = dotted.rpartition(".")
            middleware: type = getattr(importlib.import_module(module), name)
            return middleware
    return None


def check_rate_limiting() -> CheckResult:
    from django.http import HttpResponse
    from django.test import RequestFactory
    from django_ratelimit.core import _split_rate

    if not getattr(settings, "RATELIMIT_ENABLE", False):
        return CheckResult(name="", status="fail", reason="RATELIMIT_ENABLE is off")
    middleware = _rate_limit_middleware()
    rate = getattr(settings, "RATELIMIT_API", None)
    if middleware is None or rate is None:
        throttles = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_CLASSES")
        if throttles:
            return CheckResult(name="", status="pass", reason=f"DRF throttles: {throttles}")
        return CheckResult(
            name="", status="fail", reason="no rate-limit middleware and no DRF throttles"
        )
    limit, window = _split_rate(rate)
    if limit > 2000:
        return CheckResult(
            name="",
            status="warn",
            reason=f"RATELIMIT_API={rate} is configured but too high to exercise here",
        )
    handler = middleware(lambda request: HttpResponse(status=200))
    # A random address from the IPv6 documentation range: no real client shares its counter.
    address = str(
        ipaddress.IPv6Address(int(ipaddress.IPv6Address("2001:db8::")) + secrets.randbits(64))
    )
    factory = RequestFactory()
    for attempt in range(1, limit + 2):
        response = handler(factory.get("/api/events/", REMOTE_ADDR=address))
        if response.status_code == 429:
            cache = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
            result = CheckResult(
                name="",
                status="pass",
                reason=f"RATELIMIT_API={rate} per client IP on /api/: request {attempt} from one "
                f"address was refused with 429 (counters in {cache})",
            )
            if cache == "LocMemCache" and not settings.DEBUG:
                return dataclasses.replace(
                    result,
                    status="warn",
                    reason=result.reason + "; a local-memory cache counts per process — set "
                    "REDIS_URL when running several processes",
                )
            return result
    return CheckResult(
        name="",
        status="fail",
        reason=f"{limit + 1} requests from one address within {window} s were all let through "
        f"(RATELIMIT_API={rate}): is the cache reachable?",
    )


# --- Raw SQL --------------------------------------------------------------------------------


def project_sources(root: Path) -> list[Path]:
    """The project's own Python files: app packages under `root` (no tests, no migrations)."""
    sources: list[Path] = []
    for app in settings.INSTALLED_APPS:
        package = app.split(".")[0]
        directory = root / package
        if directory.is_dir() and (directory / "__init__.py").exists():
            sources += [p for p in sorted(directory.rglob("*.py")) if "migrations" not in p.parts]
    manage = root / "manage.py"
    if manage.exists():
        sources.append(manage)
    return sorted(set(sources))


def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute):
            return func.attr
        if isinstance(func, ast.Name):
            return func.id
    return None


def _is_quoting(node: ast.AST) -> bool:
    """A value that is a quoting helper's result (or a composition of them)."""
    name = _call_name(node)
    if name in QUOTING_CALLS:
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return _is_quoting(node.func.value)
    return False


def _is_string(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _is_string(node.left) or _is_string(node.right)
    return False


def _is_clean(node: ast.AST) -> bool:
    """Text made only of literals and quoted identifiers."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.JoinedStr):
        return all(
            not isinstance(v, ast.FormattedValue) or _is_quoting(v.value) for v in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _is_clean(node.left) and _is_clean(node.right)
    return _is_quoting(node)


def _built_by_formatting(node: ast.AST, assignments: dict[str, ast.AST]) -> bool:
    if isinstance(node, ast.Name) and node.id in assignments:
        return _built_by_formatting(assignments[node.id], {})
    if isinstance(node, ast.JoinedStr):
        return not _is_clean(node)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return isinstance(node.left, ast.Constant) and isinstance(node.left.value, str)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _is_string(node) and not _is_clean(node)
    if isinstance(node, ast.Call) and _call_name(node) == "format":
        func = node.func
        return (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Constant)
            and isinstance(func.value.value, str)
            and not all(_is_quoting(a) for a in [*node.args, *(k.value for k in node.keywords)])
        )
    return False


def sql_formatting_findings(path: Path, root: Path | None = None) -> list[str]:
    """`file:line call(...)` for each SQL call whose text is built by string formatting."""
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (SyntaxError, UnicodeDecodeError) as exc:
        return [f"{path}: cannot be parsed ({exc})"]
    findings = []
    for scope in ast.walk(tree):
        if not isinstance(scope, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        assignments: dict[str, ast.AST] = {}
        for node in ast.walk(scope):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    assignments[target.id] = node.value
        for node in ast.walk(scope):
            name = _call_name(node)
            if name not in SQL_CALLS or not isinstance(node, ast.Call):
                continue
            argument = (
                node.args[0]
                if node.args
                else next(
                    (k.value for k in node.keywords if k.arg in {"sql", "query", "where"}), None
                )
            )
            if argument is not None and _built_by_formatting(argument, assignments):
                shown = path.relative_to(root) if root and path.is_relative_to(root) else path
                findings.append(f"{shown}:{node.lineno} {name}() with SQL built by formatting")
    return sorted(set(findings))


def check_sql(sources: list[Path]) -> CheckResult:
    root = Path(settings.BASE_DIR)
    findings = [f for path in sources for f in sql_formatting_findings(path, root)]
    if findings:
        return CheckResult(
            name="",
            status="fail",
            reason=f"{len(findings)} place(s) build SQL by string formatting; pass values as "
            "parameters and quote identifiers with psycopg.sql.Identifier",
            details=findings,
        )
    return CheckResult(
        name="",
        status="pass",
        reason=f"{len(sources)} project files scanned: SQL text is never built from values",
    )


# --- Transport and headers -----------------------------------------------------------------


def check_https() -> CheckResult:
    problems = []
    behind_proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None) is not None
    if not settings.SECURE_SSL_REDIRECT and not behind_proxy:
        problems.append(
            "SECURE_SSL_REDIRECT is off and no TLS proxy is declared (SECURE_PROXY_SSL_HEADER)"
        )
    if settings.SECURE_HSTS_SECONDS < 31_536_000:
        problems.append(f"SECURE_HSTS_SECONDS={settings.SECURE_HSTS_SECONDS} (< 1 year)")
    if not settings.SESSION_COOKIE_SECURE:
        problems.append("SESSION_COOKIE_SECURE is off")
    if not settings.CSRF_COOKIE_SECURE:
        problems.append("CSRF_COOKIE_SECURE is off")
    if problems:
        return CheckResult(name="", status="fail", reason="HTTPS is not enforced", details=problems)
    how = "redirected by Django" if settings.SECURE_SSL_REDIRECT else "TLS proxy declared"
    return CheckResult(
        name="",
        status="pass",
        reason=f"HTTP {how}, HSTS {settings.SECURE_HSTS_SECONDS} s, secure cookies",
    )


# Django's deployment checks about response headers (the HTTPS, secret-key and DEBUG checks
# are items of their own).
HEADER_CHECK_IDS = frozenset(
    {
        "security.W001",  # SecurityMiddleware missing
        "security.W002",  # XFrameOptionsMiddleware missing
        "security.W005",  # HSTS without subdomains
        "security.W006",  # X-Content-Type-Options
        "security.W019",  # X_FRAME_OPTIONS not DENY
        "security.W021",  # HSTS preload
        "security.W022",  # Referrer-Policy
        "security.W024",  # Cross-Origin-Opener-Policy
    }
)
EXPECTED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": None,
    "Referrer-Policy": None,
    "Cross-Origin-Opener-Policy": None,
}


def _probe_host() -> str:
    for host in settings.ALLOWED_HOSTS:
        if host == "*":
            return "localhost"
        if host:
            return host.lstrip(".") if not host.startswith(".") else "www" + host
    return "localhost"


def check_headers() -> CheckResult:
    from django.core import checks
    from django.test import Client

    response = Client(raise_request_exception=False).get(
        "/api/health/live/", secure=True, HTTP_HOST=_probe_host()
    )
    missing = []
    for header, value in EXPECTED_HEADERS.items():
        actual = response.headers.get(header)
        if actual is None or (value is not None and actual.lower() != value):
            missing.append(f"{header} missing from responses")
    if settings.SECURE_HSTS_SECONDS and "Strict-Transport-Security" not in response.headers:
        missing.append("Strict-Transport-Security missing from HTTPS responses")
    deploy = [
        f"{message.id}: {message.msg.splitlines()[0]}"
        for message in checks.run_checks(
            include_deployment_checks=True, tags=[checks.Tags.security]
        )
        if message.id in HEADER_CHECK_IDS
        and message.level >= checks.WARNING
        and not message.is_silenced()
    ]
    problems = missing + deploy
    if problems:
        return CheckResult(
            name="",
            status="fail",
            reason="security headers or Django's deployment checks report problems",
            details=problems,
        )
    present = [h for h in [*EXPECTED_HEADERS, "Strict-Transport-Security"] if h in response.headers]
    return CheckResult(
        name="",
        status="pass",
        reason=f"responses carry {', '.join(present)}; Django's security deployment checks pass",
    )


# --- Dependencies ---------------------------------------------------------------------------


def _requirement_name(requirement: str) -> str:
    name = requirement.split(";", maxsplit=1)[0]
    for separator in "[<>=!~ (":
        name = name.split(separator)[0]
    return name.strip().lower().replace("_", "-").replace(".", "-")


def check_dependencies(root: Path, run_pip_audit: bool) -> CheckResult:
    pyproject, lock = root / "pyproject.toml", root / "uv.lock"
    if not lock.exists():
        return CheckResult(
            name="", status="fail", reason="uv.lock is missing: dependencies are not locked"
        )
    declared = tomllib.loads(pyproject.read_text()).get("project", {}).get("dependencies", [])
    locked = {
        package["name"].lower().replace("_", "-")
        for package in tomllib.loads(lock.read_text()).get("package", [])
    }
    unlocked = sorted(n for n in map(_requirement_name, declared) if n not in locked)
    if unlocked:
        return CheckResult(
            name="",
            status="fail",
            reason="pyproject.toml declares packages missing from uv.lock: run `uv lock`",
            details=unlocked,
        )
    base = f"uv.lock pins all {len(declared)} declared dependencies ({len(locked)} packages)"
    if not run_pip_audit:
        return CheckResult(name="", status="pass", reason=base + "; pip-audit skipped")
    return _pip_audit(base)


def pip_audit_program() -> str | None:
    beside = Path(sys.executable).parent / "pip-audit"
    return str(beside) if beside.exists() else shutil.which("pip-audit")


def _pip_audit(base: str) -> CheckResult:
    program = pip_audit_program()
    if program is None:
        return CheckResult(
            name="",
            status="warn",
            reason=base + "; pip-audit is not installed, so known vulnerabilities were not "
            "checked (`uvx pip-audit` or `pipx run pip-audit` runs it)",
        )
    try:
        completed = subprocess.run(  # noqa: S603 - fixed program and arguments
            [program, "--format", "json", "--progress-spinner", "off", "--local"],
            capture_output=True,
            text=True,
            timeout=PIP_AUDIT_TIMEOUT,
            check=False,
            # Audit this interpreter's packages, wherever pip-audit itself is installed.
            env={**os.environ, "PIPAPI_PYTHON_LOCATION": sys.executable},
        )
    except subprocess.TimeoutExpired:
        return CheckResult(
            name="", status="warn", reason=base + "; pip-audit timed out (service unreachable?)"
        )
    try:
        report = json.loads(completed.stdout)
    except ValueError:
        error = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return CheckResult(
            name="",
            status="warn",
            reason=base + f"; pip-audit could not check the vulnerability service: {error}",
        )
    return pip_audit_verdict(report, base)


def pip_audit_verdict(report: Any, base: str) -> CheckResult:
    """pip-audit's JSON report as a checklist item: vulnerable packages fail it; packages it
    could not look up (an unreachable or mirrored index) make it a warning, never a pass."""
    dependencies = report.get("dependencies", []) if isinstance(report, dict) else report
    vulnerable = [
        f"{d['name']} {d.get('version', '?')}: "
        + ", ".join(v.get("id", "?") for v in d.get("vulns", []))
        for d in dependencies
        if d.get("vulns")
    ]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    if vulnerable:
        return CheckResult(
            name="",
            status="fail",
            reason=f"pip-audit found known vulnerabilities in {len(vulnerable)} installed "
            "packages: upgrade them (uv lock --upgrade-package NAME)",
            details=vulnerable,
        )
    if skipped:
        return CheckResult(
            name="",
            status="warn",
            reason=base + f"; pip-audit could not audit {len(skipped)} of {len(dependencies)} "
            f"packages ({skipped[0]['skip_reason']})",
        )
    return CheckResult(
        name="",
        status="pass",
        reason=base + f"; pip-audit: no known vulnerabilities in {len(dependencies)} packages",
    )


# --- Secrets, errors, audit ----------------------------------------------------------------


def _hardcoded_secrets(settings_file: Path) -> list[str]:
    tree = ast.parse(settings_file.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            value = node.value.value
            for target in node.targets:
                if (
                    isinstance(target, ast.Name)
                    and any(part in target.id for part in SECRET_NAME_PARTS)
                    and isinstance(value, str)
                    and value
                ):
                    found.append(f"{settings_file.name}:{node.lineno} {target.id} = <literal>")
    return found


def check_secrets() -> CheckResult:
    from beo_automation.secret_key import secret_key_problem

    problems = []
    if os.environ.get("SECRET_KEY") != settings.SECRET_KEY:
        problems.append("SECRET_KEY does not come from the environment (or .env)")
    if problem := secret_key_problem(settings.SECRET_KEY):
        problems.append(problem)
    signing = settings.SIMPLE_JWT.get("SIGNING_KEY")
    if signing and signing != settings.SECRET_KEY and (problem := secret_key_problem(signing)):
        problems.append("JWT_SIGNING_KEY: " + problem.replace("SECRET_KEY", "the key"))
    module_name = getattr(settings, "SETTINGS_MODULE", None) or os.environ.get(
        "DJANGO_SETTINGS_MODULE", "beo_automation.settings"
    )
    settings_file = importlib.import_module(module_name).__file__
    if settings_file:
        problems += _hardcoded_secrets(Path(settings_file))
    env_file = Path(os.environ.get("ENV_FILE", Path(settings.BASE_DIR) / ".env"))
    warnings = []
    if env_file.is_file() and env_file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(f"{env_file} is readable by other users: chmod 600 it")
    if problems:
        return CheckResult(
            name="",
            status="fail",
            reason="secrets are not (only) in the environment",
            details=problems + warnings,
        )
    if warnings:
        return CheckResult(
            name="", status="warn", reason="secrets come from the environment", details=warnings
        )
    return CheckResult(
        name="",
        status="pass",
        reason="SECRET_KEY (and JWT key) from the environment and strong; none in settings.py",
    )


def check_errors() -> CheckResult:
    problems = []
    if settings.DEBUG:
        problems.append("DEBUG is on: error pages show code, settings and stack traces")
    if getattr(settings, "DEBUG_PROPAGATE_EXCEPTIONS", False):
        problems.append("DEBUG_PROPAGATE_EXCEPTIONS is on")
    handler = settings.REST_FRAMEWORK.get("EXCEPTION_HANDLER", "")
    if handler != "beo_automation.errors.api_exception_handler":
        problems.append(f"the API's exception handler is {handler or 'DRF default'!r}")
    urlconf = importlib.import_module(settings.ROOT_URLCONF)
    if not getattr(urlconf, "handler500", None):
        problems.append("no handler500 in the root URL conf")
    if problems:
        return CheckResult(
            name="", status="fail", reason="errors may leak internals", details=problems
        )
    return CheckResult(
        name="",
        status="pass",
        reason="DEBUG off; API errors use the envelope, unknown errors answer "
        '"Internal server error" only',
    )


def check_audit_logging() -> CheckResult:
    from maintenance.models import MaintenanceRun

    problems = []
    root_level = logging.getLogger().getEffectiveLevel()
    if root_level > logging.INFO:
        problems.append(
            f"LOG_LEVEL={logging.getLevelName(root_level).lower()} drops info lines "
            "(operator actions, maintenance runs)"
        )
    if "django.contrib.admin" not in settings.INSTALLED_APPS:
        problems.append("django.contrib.admin is not installed: no record of staff changes")
    runs = MaintenanceRun.objects.count()
    if problems:
        return CheckResult(
            name="", status="fail", reason="audit records are incomplete", details=problems
        )
    destination = f"files in {settings.LOG_DIR}" if settings.LOG_DIR else "stdout only"
    return CheckResult(
        name="",
        status="pass",
        reason=f"requests and operations logged at {logging.getLevelName(root_level).lower()} "
        f"({destination}); staff changes in the admin log; {runs:,} maintenance runs on record",
    )
