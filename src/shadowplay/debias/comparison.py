"""Several runs' audits side by side, and whether each run's worst-group accuracy differs from the first's by more
than noise.

The first run given is the reference. Every other run's worst-group accuracy is tested against the reference's
(``noise.py`` has the formulas and sources):

- both runs audited on the same inputs (the same test split of the same data: the inputs' bytes, labels and groups
  match) and with the same worst group (where groups tie for the worst, one worst in both runs is taken): the
  **exact McNemar test** on that group's inputs, which pairs the two
  runs' answers input by input and counts only the inputs one run gets right and the other wrong;
- otherwise (other inputs, or each run worst on another group, so the two accuracies rest on different inputs): a
  **permutation test** of the two worst groups' accuracies as two independent proportions.

The worst group is taken as given: neither test corrects for having picked the minimum over groups. p < 0.05 says
the two accuracies differ by more than the sampling noise of that many test inputs; p ≥ 0.05 says these test inputs
cannot tell them apart (not that the runs are equal).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any, Iterator, Mapping

import numpy as np

from .audit import AuditResult, _ci, _f
from .noise import mcnemar_exact, two_proportion_p

PERMUTATIONS = 9999  # shuffles of the permutation test: its p carries a Monte-Carlo error of about 0.002 at 0.05


@dataclass(frozen=True)
class Answers:
    """What a run's audit got right: ``correct`` ``(N,)`` booleans, the ``groups`` ``(N,)`` ids the audit used, and
    ``inputs``, a digest of the inputs, labels and groups (equal digests: the two runs answered the same inputs)."""
    correct: np.ndarray
    groups: np.ndarray
    inputs: str

    @classmethod
    def of(cls, correct: np.ndarray, groups: np.ndarray, x: np.ndarray, labels: np.ndarray) -> "Answers":
        h = hashlib.sha256()
        for a in (x, labels, groups):
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(a.tobytes())
        return cls(np.asarray(correct, dtype=bool), np.asarray(groups), h.hexdigest())


@dataclass(frozen=True)
class WorstGroupTest:
    """One run's worst-group accuracy against the reference run's (module docstring)."""
    run: str
    reference: str
    test: str                 # "mcnemar" or "permutation"
    p: float
    accuracy: float           # the run's worst-group accuracy
    reference_accuracy: float
    only_run: int = 0         # McNemar: the group's inputs the run alone got right
    only_reference: int = 0   # ... and those the reference alone got right
    permutations: int = 0

    def cell(self) -> str:
        """``0.0312 (McNemar, 3/15)``: the p-value, the test, and for McNemar the discordant inputs (this run right
        alone / the reference right alone)."""
        if self.test == "mcnemar":
            return f"{self.p:.4f} (McNemar, {self.only_run}/{self.only_reference})"
        return f"{_f(self.p)} (permutation)"


def worst_group_test(run: str, audit: AuditResult, answers: Answers, reference: str, ref_audit: AuditResult,
                     ref_answers: Answers, permutations: int = PERMUTATIONS, seed: int = 0) -> WorstGroupTest:
    """Test ``run``'s worst-group accuracy against ``reference``'s: exact McNemar on a shared worst group of the same
    inputs, else the permutation test of two proportions."""
    g, h = audit.worst.group, ref_audit.worst.group
    if g != h:  # a tie for the worst: a group that is worst in both runs pairs the two answers
        if any(x.group == h and x.accuracy == audit.worst_group_accuracy for x in audit.groups):
            g = h
        elif any(x.group == g and x.accuracy == ref_audit.worst_group_accuracy for x in ref_audit.groups):
            h = g
    mine, theirs = answers.correct[answers.groups == g], ref_answers.correct[ref_answers.groups == h]
    common = dict(run=run, reference=reference, accuracy=audit.worst_group_accuracy,
                  reference_accuracy=ref_audit.worst_group_accuracy)
    if answers.inputs == ref_answers.inputs and g == h:
        only_run, only_ref, p = mcnemar_exact(mine, theirs)
        return WorstGroupTest(test="mcnemar", p=p, only_run=only_run, only_reference=only_ref, **common)
    return WorstGroupTest(test="permutation", p=two_proportion_p(mine, theirs, permutations, seed),
                          permutations=permutations, **common)


@dataclass(frozen=True)
class Comparison(Mapping[str, AuditResult]):
    """What :func:`~shadowplay.debias.compare` returns: the audits by run name (it reads as that mapping) and
    ``tests``, each later run's :class:`WorstGroupTest` against the first run, by run name."""
    audits: dict[str, AuditResult]
    tests: dict[str, WorstGroupTest]

    def __getitem__(self, run: str) -> AuditResult:
        return self.audits[run]

    def __iter__(self) -> Iterator[str]:
        return iter(self.audits)

    def __len__(self) -> int:
        return len(self.audits)

    def as_dict(self) -> dict[str, Any]:
        return {"audits": {k: a.as_dict() for k, a in self.audits.items()},
                "tests": {k: asdict(t) for k, t in self.tests.items()}}

    def table(self) -> str:
        return compare_table(self)


def compare_table(audits: Mapping[str, AuditResult]) -> str:
    """Markdown: one row per run, one column per group's accuracy (headed by its test count in the first run), then
    worst group (with its 95 % Wilson interval), for a :class:`Comparison` the p-value of its difference from the
    first run's, the gaps across the sensitive attribute (demographic parity, equal opportunity, equalized odds; a
    ``*`` marks a permutation p-value < 0.05, i.e. a gap larger than noise) and the largest group ECE."""
    tests = audits.tests if isinstance(audits, Comparison) else None
    first = next(iter(audits.values())).groups
    names = [g.name for g in first]
    reference = next(iter(audits))
    head = ["run", *(f"{g.name} (n = {g.n})" for g in first), "worst group (95 % CI)",
            *([f"worst-group p vs {reference}"] if tests is not None else []), "DP gap", "EO gap", "EOdds gap",
            "max ECE"]
    rows = ["| " + " | ".join(head) + " |", "| " + " | ".join(["---"] + ["---:"] * (len(head) - 1)) + " |"]
    for run, a in audits.items():
        acc = {g.name: g.accuracy for g in a.groups}
        test = [] if tests is None else [tests[run].cell() if run in tests else "reference"]
        cells = [run, *(f"{acc[n]:.4f}" if n in acc else "-" for n in names),
                 f"{a.worst_group_accuracy:.4f} ({_ci(a.worst)})", *test,
                 *(_f(v) + ("*" if p < 0.05 else "") for v, p in (
                     (a.demographic_parity_gap, a.demographic_parity_p), (a.equal_opportunity_gap,
                      a.equal_opportunity_p), (a.equalized_odds_gap, a.equalized_odds_p), (a.max_ece, 1.0)))]
        rows.append("| " + " | ".join(cells) + " |")
    notes = ["", "* permutation p < 0.05: the gap is larger than shuffling the attribute gives"]
    if tests:
        notes.append(f"worst-group p: is a run's worst-group accuracy different from {reference}'s by more than "
                     "noise? exact McNemar test on the shared worst group's inputs (in brackets: inputs this run "
                     f"alone / {reference} alone got right), else a permutation test of the two worst groups' "
                     "accuracies; p < 0.05: more than noise, p >= 0.05: these test inputs cannot tell them apart")
    return "\n".join(rows + notes)
