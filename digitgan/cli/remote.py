"""The `digitgan` subcommands that drive a remote API: submit, watch, list, cancel, samples.

The API's URL and token come from --url/--token or DIGITGAN_URL/DIGITGAN_API_TOKEN.
Exit codes of submit --watch and watch: 0 succeeded, 1 failed, 3 cancelled, 130 stopped
watching (Ctrl-C; the job goes on); any command: 2 the API refused the request,
4 the API could not be reached.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from digitgan.client import Remote, RemoteError

DEFAULT_URL = "http://127.0.0.1:8000"
EXIT_CODES = {"succeeded": 0, "failed": 1, "cancelled": 3}
EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 2, 4, 130
FINISHED = frozenset(EXIT_CODES)
BAR_WIDTH = 24
# Without a terminal (a log file, CI), print progress at most this often.
PLAIN_PROGRESS_EVERY_S = 10.0
RECONNECT_S = 2.0


def render_progress(progress: dict[str, Any]) -> str:
    """One line: bar, percent, steps, images/s, time left and the latest losses."""
    done = int(BAR_WIDTH * progress.get("percent", 0) / 100)
    parts = [
        f"[{'#' * done}{'.' * (BAR_WIDTH - done)}] {progress.get('percent', 0):5.1f}%",
        f"step {progress.get('step', 0)}/{progress.get('total_steps', 0)}",
    ]
    if progress.get("images_per_second") is not None:
        parts.append(f"{progress['images_per_second']:,.0f} img/s")
    if progress.get("eta_s") is not None:
        parts.append(f"ETA {_duration(progress['eta_s'])}")
    if progress.get("d_loss") is not None:
        parts.append(f"D {progress['d_loss']:.3f} G {progress['g_loss']:.3f}")
    return "  ".join(parts)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class ProgressPrinter:
    """A live bar on a terminal (rewritten in place); plain, spaced-out lines elsewhere."""

    def __init__(self, out: TextIO):
        self.out = out
        self.live = out.isatty()
        self.last_plain = 0.0
        self.bar_shown = False

    def progress(self, progress: dict[str, Any]) -> None:
        line = render_progress(progress)
        if self.live:
            self.out.write(f"\r\x1b[K{line}")
            self.bar_shown = True
        elif time.monotonic() - self.last_plain >= PLAIN_PROGRESS_EVERY_S:
            self.last_plain = time.monotonic()
            self.out.write(f"{line}\n")
        self.out.flush()

    def line(self, text: str) -> None:
        if self.bar_shown:
            self.out.write("\n")
            self.bar_shown = False
        self.out.write(f"{text}\n")
        self.out.flush()


def describe(job: dict[str, Any]) -> str:
    text = f"job {job['id']}: {job['state']}"
    if job["state"] == "running":
        text += f" (attempt {job['attempt']} on {job['worker']}, {job['device']})"
    if job.get("checkpoint_id") and job["state"] in FINISHED:
        text += f", checkpoint {job['checkpoint_id']}"
    if job.get("error"):
        text += f"\n  error: {job['error']}"
    return text


def watch(remote: Remote, job_id: str, out: TextIO) -> dict[str, Any]:
    """Follow the job's events until it ends; reconnects when the stream breaks."""
    printer = ProgressPrinter(out)
    job = remote.job(job_id)
    printer.line(describe(job))
    last_line = describe(job)
    while job["state"] not in FINISHED:
        try:
            for event, data in remote.events(job_id):
                if event == "state":
                    job = data
                    if describe(job) != last_line:
                        last_line = describe(job)
                        printer.line(last_line)
                    if job["state"] == "running" and job.get("progress", {}).get("step"):
                        printer.progress(job["progress"])
                elif event == "progress":
                    printer.progress(data)
                elif event == "unavailable":
                    printer.line(f"(the API says: {data['detail']}; still watching)")
            job = remote.job(job_id)
        except RemoteError as exc:
            if exc.status is not None and exc.status < 500:
                raise
            printer.line(f"(lost the API: {exc.detail}; retrying in {RECONNECT_S:.0f}s)")
            time.sleep(RECONNECT_S)
    if describe(job) != last_line:
        printer.line(describe(job))
    return job


def _watch_to_exit_code(remote: Remote, job_id: str) -> int:
    try:
        job = watch(remote, job_id, sys.stdout)
    except KeyboardInterrupt:
        print(
            f"\nstopped watching; job {job_id} goes on "
            f"(digitgan watch {job_id} / digitgan cancel {job_id})"
        )
        return EXIT_INTERRUPTED
    return EXIT_CODES[job["state"]]


def _submit(remote: Remote, args: argparse.Namespace) -> int:
    spec = {
        field: getattr(args, field)
        for field in (
            "architecture",
            "steps",
            "batch_size",
            "learning_rate",
            "seed",
            "dataset",
            "checkpoint_every",
            "resume_from",
        )
        if getattr(args, field) is not None
    }
    job = remote.submit(spec)
    print(f"submitted job {job['id']} ({job['url']})", flush=True)
    return _watch_to_exit_code(remote, job["id"]) if args.watch else 0


def _watch(remote: Remote, args: argparse.Namespace) -> int:
    return _watch_to_exit_code(remote, args.job_id)


def _list(remote: Remote, args: argparse.Namespace) -> int:
    page = remote.jobs(args.limit, args.offset, args.state)
    print(f"{'id':32}  {'state':9}  {'step':>13}  {'attempt':>7}  created")
    for job in page["jobs"]:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job["created_at"]))
        steps = f"{job['progress']['step']}/{job['spec']['steps']}"
        print(f"{job['id']:32}  {job['state']:9}  {steps:>13}  {job['attempt']:>7}  {created}")
    print(f"({len(page['jobs'])} of {page['total']})")
    return 0


def _cancel(remote: Remote, args: argparse.Namespace) -> int:
    print(describe(remote.cancel(args.job_id)))
    return 0


def _samples(remote: Remote, args: argparse.Namespace) -> int:
    params = {"n": args.n} | ({"seed": args.seed} if args.seed is not None else {})
    png, checkpoint_id = remote.samples_png(params)
    Path(args.output).write_bytes(png)
    print(f"wrote {args.n} samples of checkpoint {checkpoint_id} to {args.output}")
    return 0


def _run(
    command: Callable[[Remote, argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        remote = Remote(args.url, args.token)
        try:
            return command(remote, args)
        except RemoteError as exc:
            print(f"digitgan: {exc.detail}", file=sys.stderr)
            return EXIT_REFUSED if exc.status is not None else EXIT_UNREACHABLE
        finally:
            remote.close()

    return run


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the remote subcommands on the `digitgan` parser."""
    remote = argparse.ArgumentParser(add_help=False)
    remote.add_argument(
        "--url",
        default=os.environ.get("DIGITGAN_URL", DEFAULT_URL),
        help="the API (default: $DIGITGAN_URL or %(default)s)",
    )
    remote.add_argument(
        "--token",
        default=os.environ.get("DIGITGAN_API_TOKEN"),
        help="bearer token for submit and cancel (default: $DIGITGAN_API_TOKEN)",
    )

    submit = commands.add_parser("submit", parents=[remote], help="start a training job")
    submit.add_argument("--architecture")
    submit.add_argument("--steps", type=int)
    submit.add_argument("--batch-size", type=int)
    submit.add_argument("--learning-rate", type=float)
    submit.add_argument("--seed", type=int)
    submit.add_argument("--dataset")
    submit.add_argument("--checkpoint-every", type=int)
    submit.add_argument("--resume-from", metavar="CHECKPOINT_ID")
    submit.add_argument("--watch", action="store_true", help="then watch it until it ends")
    submit.set_defaults(func=_run(_submit))

    watch_cmd = commands.add_parser(
        "watch", parents=[remote], help="follow a job with a progress bar until it ends"
    )
    watch_cmd.add_argument("job_id")
    watch_cmd.set_defaults(func=_run(_watch))

    list_cmd = commands.add_parser("list", parents=[remote], help="list jobs, newest first")
    list_cmd.add_argument("--state", choices=sorted(FINISHED | {"queued", "running"}))
    list_cmd.add_argument("--limit", type=int, default=20)
    list_cmd.add_argument("--offset", type=int, default=0)
    list_cmd.set_defaults(func=_run(_list))

    cancel = commands.add_parser("cancel", parents=[remote], help="cancel a job")
    cancel.add_argument("job_id")
    cancel.set_defaults(func=_run(_cancel))

    samples = commands.add_parser(
        "samples", parents=[remote], help="download a PNG of samples from the latest checkpoint"
    )
    samples.add_argument("-o", "--output", default="samples.png")
    samples.add_argument("-n", type=int, default=16)
    samples.add_argument("--seed", type=int)
    samples.set_defaults(func=_run(_samples))
