"""What a study has done so far, kept in OUTDIR: which cases finished (their result
folders, verified) and which failed (``OUTDIR/state.json``), so that running the study
again runs only the rest.

A case's result folder is written by femopt.run, complete or absent
(:class:`femopt.output.OutputFolder`); its summary.json carries the case's hash
(:func:`case_hash`), which tells a result of this very case from a stale one. Failures
leave no result folder (femopt.run publishes nothing), so they are kept in state.json.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from femopt.config import ProblemConfig
from femopt.output.atomic import write_atomically
from femopt.study.records import CaseRecord
from femopt.study.spec import Case

STATE_FILE = "state.json"
CASES_FOLDER = "cases"
SUMMARY_KEY = "study"  # summary.json's entry written by the study (femopt.run's extra_summary)
# Everything a study writes into OUTDIR: its state, the cases' folder and the report's files
# (femopt.study.report); a folder holding anything else is not a study's and is refused.
REPORT_FILES = ("study.csv", "study.parquet", "study.png", "montage.png", "study.json")
FOLDER_FILES = (STATE_FILE, CASES_FOLDER, *REPORT_FILES)


def case_hash(case: Case, config: ProblemConfig) -> str:
    """A hash of everything that determines the case's result: the problem fingerprint
    (it covers a mesh file's contents) and the merged problem itself (it covers what the
    fingerprint leaves out, such as the iteration limit)."""
    text = config.fingerprint + json.dumps(case.problem, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class StudyState:
    """The state of the study in ``outdir``: finished results and recorded failures."""

    def __init__(self, outdir: Path):
        self.outdir = Path(outdir)
        self.path = self.outdir / STATE_FILE
        self.failures: dict[str, dict] = {}
        if self.path.is_file():
            try:
                self.failures = json.loads(self.path.read_text()).get("failed", {})
            except (OSError, ValueError, AttributeError):
                self.failures = {}  # unreadable: the failed cases simply run again

    def case_folder(self, case: Case) -> Path:
        return self.outdir / CASES_FOLDER / case.name

    def finished(self, case: Case, hash_: str) -> CaseRecord | None:
        """The record of the case's complete result, when its folder holds one of this
        very case (summary.json with its hash); else None."""
        folder = self.case_folder(case)
        try:
            summary = json.loads((folder / "summary.json").read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(summary, dict) or summary.get(SUMMARY_KEY, {}).get("hash") != hash_:
            return None
        return CaseRecord(case.name, dict(case.values), summary["objective"], summary["volume"],
                          summary["iterations"], summary["status"], summary["wall_time_s"], None, folder)

    def failure(self, case: Case, hash_: str) -> CaseRecord | None:
        """The record of the case's recorded failure (of this very case), else None."""
        entry = self.failures.get(case.name)
        if not entry or entry.get("hash") != hash_:
            return None
        return failed_record(case, entry["error"], self.case_folder(case))

    def record(self, record: CaseRecord, hash_: str, details: str | None = None) -> None:
        """Remember ``record``'s failure (with ``details``, e.g. a traceback), or forget an
        earlier failure of a case that now finished; the file is replaced atomically."""
        if record.failed:
            self.failures[record.name] = {"hash": hash_, "error": record.error, "details": details}
        elif self.failures.pop(record.name, None) is None:
            return
        self._write()

    def _write(self) -> None:
        self.outdir.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"failed": self.failures}, indent=2) + "\n"
        write_atomically(self.path, lambda temporary: temporary.write_text(text))


def failed_record(case: Case, error: str, folder: Path, wall_time: float | None = None) -> CaseRecord:
    """The record of a case that failed with ``error`` (after ``wall_time`` seconds, when known)."""
    return CaseRecord(case.name, dict(case.values), None, None, None, "failed", wall_time, error, folder)
