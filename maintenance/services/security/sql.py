"""Raw SQL built by string formatting, found by parsing the project's own source.

Every execute()/raw()/RawSQL() whose SQL is built by f-string, `%`, `+` or `.format()` is
reported; identifiers quoted by a quoting function are allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

from maintenance.services.security.result import CheckResult

# Calls that run SQL text, and the quoting helpers allowed inside a formatted SQL string.
SQL_CALLS = frozenset({"execute", "executemany", "raw", "extra", "RawSQL", "mogrify"})
QUOTING_CALLS = frozenset(
    {"quote_name", "quote_table", "quote_identifier", "Identifier", "Literal", "as_string"}
)


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
