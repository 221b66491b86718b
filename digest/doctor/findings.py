"""What the doctor says: one finding per thing checked, its severity, what was found, and what
to publish or change to fix it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "ok"]


@dataclass(frozen=True)
class Finding:
    check: str  # "spf", "dkim", "dmarc", "mx", "unsubscribe", "edition", "dns"
    severity: Severity
    found: str
    fix: str = ""

    def lines(self) -> list[str]:
        first = f"{self.severity}: {self.check}: {self.found}"
        return [first, f"    fix: {self.fix}"] if self.fix else [first]


def ok(check: str, found: str) -> Finding:
    return Finding(check, "ok", found)


def warning(check: str, found: str, fix: str = "") -> Finding:
    return Finding(check, "warning", found, fix)


def error(check: str, found: str, fix: str = "") -> Finding:
    return Finding(check, "error", found, fix)


@dataclass
class DoctorReport:
    """One newsletter's check-up: its From domain, its sender, and the findings in order."""

    newsletter: str
    from_address: str
    domain: str
    sender: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def lines(self) -> list[str]:
        head = f"{self.newsletter}: From {self.from_address}, sent through {self.sender}"
        body = [line for finding in self.findings for line in finding.lines()]
        tally = f"{_count(len(self.errors), 'error')}, {_count(len(self.warnings), 'warning')}"
        return [head, *body, tally]

    def json(self) -> dict[str, Any]:
        data = asdict(self)
        data["errors"] = len(self.errors)
        data["warnings"] = len(self.warnings)
        return data

    def refusal(self) -> str:
        """The errors in one line, for a refused first send."""
        return "; ".join(f"{f.check}: {f.found}" for f in self.errors)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
