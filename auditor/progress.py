"""Progress lines on stderr a person can follow: phase, counts, elapsed time."""

from __future__ import annotations

import sys
import time


# A rate is printed only for a phase this long over this many rows: below that it measures start-up.
RATE_MIN_SECONDS = 10.0
RATE_MIN_ROWS = 1_000_000


class Progress:
    """Prints '[  12.3s] phase: message' lines to stderr unless quiet."""

    def __init__(self, quiet: bool = False, stream=None):
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.phase_started = self.started
        self.timings: dict[str, float] = {}
        self._phase: str | None = None

    def phase(self, name: str, message: str = "") -> None:
        """Start a named phase (closing the previous one)."""
        self._close()
        self._phase = name
        self.phase_started = time.monotonic()
        self.say(message or "started")

    def say(self, message: str) -> None:
        if not self.quiet:
            elapsed = time.monotonic() - self.started
            print(f"[{elapsed:7.1f}s] {self._phase or 'audit'}: {message}", file=self.stream, flush=True)

    def rate(self, rows: int) -> str:
        """' (N rows/s)' since the current phase started, for a progress line; empty when the phase was
        too short or too small for a rate to mean anything (Spark's start-up would dominate it)."""
        seconds = time.monotonic() - self.phase_started
        if seconds < RATE_MIN_SECONDS or rows < RATE_MIN_ROWS:
            return ""
        return f" ({rows / seconds:,.0f} rows/s)"

    def done(self) -> dict[str, float]:
        """Close the last phase; return seconds per phase."""
        self._close()
        return dict(self.timings)

    def _close(self) -> None:
        if self._phase is not None:
            self.timings[self._phase] = time.monotonic() - self.phase_started
            self._phase = None
