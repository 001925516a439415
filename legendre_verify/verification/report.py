"""What ``verify()`` returns and raises: one :class:`CheckResult` per check, the
:class:`Report` that holds them, and :class:`VerificationError` for a Function that failed."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CheckProgress", "CheckResult", "Report", "VerificationError"]


@dataclass(frozen=True)
class CheckProgress:
    """Where a running check stands, after each sample it ran (``verify(on_sample=...)``): for
    a progress display."""

    check: str
    #: samples run so far: Hypothesis's draws, then (``shrinking``) its shrinking attempts
    examples: int
    #: the check's budget of draws
    max_examples: int
    #: since the check started
    seconds: float
    #: a sample failed: Hypothesis is shrinking it (``examples`` may pass ``max_examples``)
    shrinking: bool = False


@dataclass
class CheckResult:
    """How one check went: ``passed``, ``failed``, ``blocked`` (it met a root cause another
    check reports: one line says which) or ``skipped`` (with the reason)."""

    name: str
    status: str
    examples: int
    seconds: float
    message: str = ""
    doc: str = ""
    #: the whole failure text (shrunk sample, reproduce snippet) of a failed check
    details: str = ""


@dataclass
class Report:
    """The outcome of ``verify``: one :class:`CheckResult` per check, in the order run, and
    notes on how the subject was understood (oracles used, capabilities probed)."""

    subject: str
    results: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.status not in ("failed", "blocked") for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        """The failed checks (each a root cause of its own), in order."""
        return [r for r in self.results if r.status == "failed"]

    @property
    def blocked(self) -> list[CheckResult]:
        """Checks that met a root cause a failed check reports."""
        return [r for r in self.results if r.status == "blocked"]

    def failure_text(self) -> str:
        """What a failing verify raises: the first failure in full, one line for each other
        failure and each blocked check, then the table."""
        lines = [self.failures[0].details if self.failures else ""]
        for r in self.failures[1:]:
            lines.append(f"also failed: {r.name}: {r.message.splitlines()[0][:300]}")
        for r in self.blocked:
            lines.append(f"{r.name}: {r.message}")
        return "\n".join(lines) + "\n\n" + self.format_table()

    @property
    def skipped_for_truth(self) -> list[str]:
        """Checks skipped because no oracle knew the truth."""
        return [r.name for r in self.results if r.status == "skipped" and "truth" in r.message]

    def format_table(self) -> str:
        """A plain-text table: check, status, examples tried, seconds; then the notes."""
        width = max([len(r.name) for r in self.results] + [5])
        lines = [f"{'check':<{width}}  {'status':<7}  {'examples':>8}  {'seconds':>7}"]
        for r in self.results:
            note = f"  {r.message}" if r.status in ("skipped", "blocked") else ""
            lines.append(
                f"{r.name:<{width}}  {r.status:<7}  {r.examples:>8}  {r.seconds:>7.2f}{note}"
            )
        lines += [f"note: {n}" for n in self.notes]
        failed, blocked = len(self.failures), len(self.blocked)
        verdict = "PASSED" if self.passed else f"FAILED {failed} check(s)"
        if blocked:
            verdict += f", {blocked} blocked by the same root cause"
        lines.append(f"{self.subject}: {verdict} in {self.seconds:.1f} s")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The report as plain data (for ``--json``)."""
        return {
            "subject": self.subject,
            "passed": self.passed,
            "seconds": self.seconds,
            "notes": list(self.notes),
            "checks": [r.__dict__.copy() for r in self.results],
        }

    def to_junit_xml(self) -> str:
        """The report as JUnit XML (one testcase per check), for CI systems."""
        from xml.etree import ElementTree as ET

        suite = ET.Element(
            "testsuite",
            name=self.subject,
            tests=str(len(self.results)),
            failures=str(len(self.failures) + len(self.blocked)),
            skipped=str(sum(r.status == "skipped" for r in self.results)),
            time=f"{self.seconds:.3f}",
        )
        for r in self.results:
            case = ET.SubElement(
                suite, "testcase", classname=self.subject, name=r.name, time=f"{r.seconds:.3f}"
            )
            if r.status in ("failed", "blocked"):
                ET.SubElement(case, "failure", message=r.message[:500]).text = r.details
            elif r.status == "skipped":
                ET.SubElement(case, "skipped", message=r.message)
        if self.notes:
            ET.SubElement(suite, "system-out").text = "\n".join(self.notes)
        root = ET.Element("testsuites")
        root.append(suite)
        return ET.tostring(root, encoding="unicode")

    def __str__(self) -> str:
        return self.format_table()


class InternalError(RuntimeError):
    """legendre-verify's own failure (a bug in the verifier), raised as itself: never a verdict
    on the Function under test, never reported as one of its failures."""


class VerificationError(AssertionError):
    """A check failed; the message holds the shrunk minimal sample and how to reproduce it."""

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        self.report = report
