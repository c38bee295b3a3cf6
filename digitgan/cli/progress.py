"""The training progress that `digitgan train` and `digitgan submit --watch` show: a live
bar on a terminal, and plain lines at most every 10 s elsewhere (a log file, CI), where
a bar redrawn in place would be noise."""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from digitgan.jobs import JobProgress

if TYPE_CHECKING:
    from models.train import Progress as TrainingProgress

BAR_WIDTH = 24
PLAIN_EVERY_S = 10.0


def progress_text(progress: JobProgress) -> str:
    """Percent, steps, images/s, time left and the latest losses: what the bar stands by."""
    parts = [
        f"{progress.percent:5.1f}%",
        f"step {progress.step}/{progress.total_steps}",
    ]
    if progress.images_per_second is not None:
        parts.append(f"{progress.images_per_second:,.0f} img/s")
    if progress.eta_s is not None:
        parts.append(f"ETA {_duration(progress.eta_s)}")
    if progress.d_loss is not None and progress.g_loss is not None:
        parts.append(f"D {progress.d_loss:.3f} G {progress.g_loss:.3f}")
    return "  ".join(parts)


def render_progress(progress: JobProgress) -> str:
    """One plain line: a text bar, then progress_text."""
    done = min(BAR_WIDTH, int(BAR_WIDTH * progress.percent / 100))
    return f"[{'#' * done}{'.' * (BAR_WIDTH - done)}] {progress_text(progress)}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def training_progress(progress: TrainingProgress, batch_size: int) -> JobProgress:
    """The training loop's progress report as a job's, for the same display."""
    steps_per_s = progress.images_per_second / batch_size
    left = progress.total_steps - progress.step
    return JobProgress(
        step=progress.step,
        total_steps=progress.total_steps,
        percent=round(100 * progress.step / progress.total_steps, 2),
        images_per_second=progress.images_per_second,
        eta_s=left / steps_per_s if steps_per_s > 0 else None,
        d_loss=progress.d_loss,
        g_loss=progress.g_loss,
        updated_at=time.time(),
    )


class ProgressDisplay:
    """Progress and messages about one training run, as a context manager:

        with ProgressDisplay() as display:
            display.line("job 3f2a...: running")
            display.progress(job_progress)

    On a terminal the bar is redrawn in place and messages print above it; elsewhere
    each message is a line and progress a plain line when PLAIN_EVERY_S have passed
    (and at the first and the last step)."""

    def __init__(self, console: Console | None = None, *, plain_every_s: float = PLAIN_EVERY_S):
        # soft_wrap: a long line stays one line in a log, whatever the width rich guesses.
        self.console = console or Console(soft_wrap=True, highlight=False)
        self.live = self.console.is_terminal
        self.plain_every_s = plain_every_s
        self.last_plain: float | None = None
        self.bar = Progress(
            BarColumn(bar_width=BAR_WIDTH),
            TextColumn("{task.fields[text]}", markup=False),
            console=self.console,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> ProgressDisplay:
        if self.live:
            self.bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.live:
            self.bar.stop()

    def progress(self, progress: JobProgress) -> None:
        if self.live:
            if self.task is None:
                self.task = self.bar.add_task("training", text="")
            self.bar.update(
                self.task,
                total=progress.total_steps or None,
                completed=progress.step,
                text=progress_text(progress),
            )
            return
        now = time.monotonic()
        last = progress.total_steps > 0 and progress.step >= progress.total_steps
        if self.last_plain is None or now - self.last_plain >= self.plain_every_s or last:
            self.last_plain = now
            self.line(render_progress(progress))

    def line(self, text: str) -> None:
        """A message: above the bar on a terminal, a line of its own elsewhere."""
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)
