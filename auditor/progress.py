"""Progress lines on stderr a person can follow: phase, counts, elapsed time."""

from __future__ import annotations

import sys
import time


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
        """Rows per second since the current phase started, for a progress line."""
        seconds = time.monotonic() - self.phase_started
        return f"{rows / seconds:,.0f} rows/s" if seconds > 0 else "instant"

    def done(self) -> dict[str, float]:
        """Close the last phase; return seconds per phase."""
        self._close()
        return dict(self.timings)

    def _close(self) -> None:
        if self._phase is not None:
            self.timings[self._phase] = time.monotonic() - self.phase_started
            self._phase = None
