"""CPython's own selector tests against every iomux.selectors class.

The test bodies are the interpreter's copy (``test.test_selectors``), never copied here: each
iomux class gets a subclass of the standard test case it corresponds to, with ``SELECTOR`` set
to the iomux class. The standard module's cases run first, on this machine, and the rule is:
every test that passes for the standard class passes for iomux's, except the deliberate
differences listed in ``DIFFERENCES`` (each with its reason).

Exit status: 0 when the rule holds, 1 when it does not, 3 when the interpreter has no
``test.test_selectors`` (Debian ships it in ``libpython3.X-testsuite``).
"""

import selectors
import sys
import unittest

try:
    import test.test_selectors as cpython
except ImportError as e:
    print(f"MISSING: CPython's test suite (test.test_selectors): {e}", file=sys.stderr)
    sys.exit(3)

import iomux.selectors as iomux_selectors

# The standard case each iomux backend is measured against: the same mechanism where the
# standard module has it. The io_uring backends arm poll(2)-style polls (no EPERM for regular
# files, unlike epoll), so they answer to the poll case, as would a backend added later.
STANDARD_CASE = {
    "select": cpython.SelectSelectorTestCase,
    "epoll": cpython.EpollSelectorTestCase,
    "epoll-et": cpython.EpollSelectorTestCase,
}


def standard_case(cls):
    return STANDARD_CASE.get(cls.BACKEND, cpython.PollSelectorTestCase)


def _edge_triggered(cls):
    return cls.BACKEND in {name for name, edge, *_ in iomux_selectors._selector.backends() if edge}


class _FailingModify:
    """An iomux core whose modify fails as a kernel might, everything else passed through."""

    def __init__(self, core):
        self._core = core

    def __getattr__(self, name):
        return getattr(self._core, name)

    def __len__(self):
        return len(self._core)

    def modify(self, *args):
        raise ZeroDivisionError


def modify_unregister_with_a_failing_core(self):
    # The check of CPython's test_modify_unregister (bpo-30014): a failed modify() leaves the
    # fd unregistered.
    s = self.SELECTOR()
    self.addCleanup(s.close)
    rd, wr = self.make_socketpair()
    s.register(rd, selectors.EVENT_READ)
    self.assertEqual(len(s.get_map()), 1)
    s._core = _FailingModify(s._core)
    with self.assertRaises(ZeroDivisionError):
        s.modify(rd, selectors.EVENT_WRITE)
    self.assertEqual(len(s.get_map()), 0)


class Difference:
    """A CPython test that iomux's classes run differently, on purpose: replaced by
    ``replacement`` (run under the test's own name), or skipped if there is none."""

    def __init__(self, applies, reason, replacement=None):
        self.applies = applies  # applies(cls): whether it concerns iomux class cls
        self.reason = reason
        self.replacement = replacement


LEVEL_ONLY = (
    "expects a still-ready fd to be reported again by the next select(); an edge-triggered "
    "selector reports it once per change, as its backend is documented to"
)
DIFFERENCES = {
    "test_modify_unregister": Difference(
        lambda cls: True,
        "patches the standard module's own poller class (selectors.<Name>._selector_cls), "
        "which iomux's classes do not use; replaced by the same check with iomux's Rust core "
        "made to fail the modify",
        modify_unregister_with_a_failing_core,
    ),
    "test_selector": Difference(
        _edge_triggered,
        LEVEL_ONLY + " (it would wait forever for writers it was told about before)",
    ),
    "test_timeout": Difference(_edge_triggered, LEVEL_ONLY),
}


def iomux_case(cls):
    """The test case for iomux class ``cls``: its standard case with ``cls`` as SELECTOR."""
    base = standard_case(cls)
    body = {"SELECTOR": cls}
    for name, difference in DIFFERENCES.items():
        if difference.applies(cls):
            body[name] = difference.replacement or unittest.skip(
                f"deliberate difference: {difference.reason}"
            )(getattr(base, name))
    return type(f"Iomux{cls.__name__}Test", (base,), body)


class Outcomes(unittest.TextTestResult):
    """Remembers each test's outcome by method name."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcome = {}

    def addSuccess(self, test):
        super().addSuccess(test)
        self.outcome[test._testMethodName] = "passed"

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.outcome[test._testMethodName] = "FAILED"

    def addError(self, test, err):
        super().addError(test, err)
        self.outcome[test._testMethodName] = "ERROR"

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.outcome[test._testMethodName] = "skipped"

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.outcome[test._testMethodName] = "expected failure"


def run_case(case):
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(case)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=1, resultclass=Outcomes)
    print(f"== {case.__name__}", flush=True)
    return runner.run(suite).outcome


def _counts(outcome):
    counts = {}
    for result in outcome.values():
        counts[result] = counts.get(result, 0) + 1
    return ", ".join(f"{n} {result}" for result, n in sorted(counts.items()))


def main():
    classes = [cls for cls, unavailable in iomux_selectors.BACKENDS.values() if unavailable is None]
    standard = {}
    for cls in classes:
        if standard_case(cls) not in standard:
            standard[standard_case(cls)] = run_case(standard_case(cls))
    # Backends this kernel lacks are named, so that a missing one is visible in the log.
    for name, (_, unavailable) in iomux_selectors.BACKENDS.items():
        if unavailable is not None:
            print(f"NOT AVAILABLE: {name}: {unavailable}")
    broken = []
    summary = [f"STANDARD {case.__name__}: {_counts(out)}" for case, out in standard.items()]
    for cls in classes:
        case = iomux_case(cls)
        outcome = run_case(case)
        base_outcome = standard[standard_case(cls)]
        for name, result in sorted(outcome.items()):
            if base_outcome.get(name) == "passed" and result != "passed":
                difference = DIFFERENCES.get(name)
                if result == "skipped" and difference and difference.applies(cls):
                    continue
                broken.append(f"{cls.__name__}.{name}: {result} (the standard class passes it)")
            elif result in ("FAILED", "ERROR"):
                broken.append(f"{cls.__name__}.{name}: {result}")
        summary.append(
            f"RESULT {cls.__name__} ({cls.BACKEND}) vs {standard_case(cls).__name__}: "
            + _counts(outcome)
        )
    for name, difference in DIFFERENCES.items():
        which = ", ".join(cls.__name__ for cls in classes if difference.applies(cls))
        how = "replaced" if difference.replacement else "skipped"
        print(f"DIFFERENCE {name} {how} for {which}: {difference.reason}")
    print("\n".join(summary))
    for line in broken:
        print(f"BROKEN {line}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
