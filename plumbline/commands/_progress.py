"""The progress bar of ``plumbline fetch`` and ``plumbline replay`` (tqdm), drawn on stderr.

On a terminal it is a live tqdm bar; finished-step lines (e.g. ``nyfed:SOFR: 18 new, ...``) are
printed above it. Anywhere else (a log file, a pipe, CI) the bar is off and only the finished-step
lines are written, one each, prefixed with ``[done/total]``, so logs stay short.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType
from typing import TextIO

from tqdm import tqdm

__all__ = ["ProgressBar"]

_FALLBACK_SIZE = (80, 20)


def _terminal_size(stream: TextIO) -> tuple[int, int]:
    """(columns, lines) of the terminal, 0 when unknown (some pseudo-terminals, e.g. ``docker run -t``)."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return 0, 0
    return size.columns, size.lines


class ProgressBar:
    """Progress towards ``total``; :meth:`advance_to` sets the position, :meth:`line` logs a line.

    ``total=None``: not known yet; the bar appears with the first :meth:`advance_to` that gives it.
    """

    def __init__(
        self,
        total: int | None,
        *,
        desc: str,
        unit: str = "step",
        initial: int = 0,
        stream: TextIO | None = None,
        mininterval: float = 0.2,
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total = total
        self.done = initial
        self._options = {"desc": desc, "unit": unit, "mininterval": mininterval}
        self._bar: tqdm | None = None
        if total is not None:
            self._start()

    def _start(self) -> tqdm:
        if self._bar is None:
            # Follow the terminal's size; where it reports none, tqdm would hide the bar: assume 80x20.
            columns, lines = _terminal_size(self.stream)
            resizable = self.tty and columns > 0 and lines > 0
            self._bar = tqdm(
                total=self.total, initial=self.done, file=self.stream, disable=not self.tty, leave=True,
                dynamic_ncols=resizable, ncols=None if resizable else columns or _FALLBACK_SIZE[0],
                nrows=None if resizable else lines or _FALLBACK_SIZE[1], **self._options,
            )  # fmt: skip
        return self._bar

    def advance_to(self, done: int, label: str = "", *, total: int | None = None) -> None:
        """Show ``done`` of ``total`` (when given, it replaces the total) and ``label`` after the bar."""
        if total is not None and total != self.total:
            self.total = total
            if self._bar is not None:
                self._bar.total = total
        bar = self._start()
        step, self.done = done - self.done, done
        if self.tty:
            bar.set_postfix_str(label, refresh=False)
            bar.update(step)

    def line(self, text: str) -> None:
        """A whole line: above the bar on a terminal, else ``[done/total] text``."""
        if self.tty:
            tqdm.write(text, file=self.stream)
        else:
            self.stream.write(f"[{self.done}/{self.total or 0}] {text}\n")
            self.stream.flush()

    def close(self, final: str | None = None) -> None:
        """Leave the bar at its last state; ``final`` is its last label (off a terminal: its last line)."""
        if final is not None:
            if self.tty and self._bar is not None:
                self._bar.set_postfix_str(final, refresh=False)
            elif not self.tty:
                self.line(final)
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.close()
