"""Checking a file costs time in proportion to its size: sections are found by name once."""

from __future__ import annotations

import gc
import time

from qathw.config import ConfigDocument
from tests.config.builders import general, report_of, user


def check_seconds(sections: int) -> float:
    """The best of three checks of a file with ``sections`` user sections, each with a note.

    Sections without instances each give a diagnostic (V5): the quadratic cost was in
    counting the diagnostics so far, once per section.
    """
    text = general() + "".join(user(f"S{i}", cy=0) for i in range(sections))
    ConfigDocument.parse(text)  # imports and caches are not what is measured
    best = float("inf")
    for _ in range(3):
        # Garbage-collector pauses grow with the heap, not with the algorithm.
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            report = report_of(text)
            best = min(best, time.perf_counter() - start)
        finally:
            gc.enable()
        assert len(report.diagnostics) == sections
    return best


def test_checking_four_times_the_sections_takes_about_four_times_as_long() -> None:
    small, large = check_seconds(2_500), check_seconds(10_000)
    # Linear: 4x; quadratic: 16x. The bound between them leaves room for a busy machine.
    assert large < 8 * small, f"{small:.2f} s for 2,500 sections, {large:.2f} s for 10,000"
