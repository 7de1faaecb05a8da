"""Dependencies locked (uv.lock covers pyproject.toml) and audited (pip-audit's verdict)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from maintenance.services.security.result import CheckResult

PIP_AUDIT_TIMEOUT = 120


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
