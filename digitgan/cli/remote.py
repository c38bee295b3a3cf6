"""The `digitgan` subcommands that drive a remote API, on digitgan.client: submit, watch,
list, cancel, samples, and `datasets` and `checkpoints` to manage what the store holds.

The API's URL and token come from --url/--token or DIGITGAN_URL/DIGITGAN_API_TOKEN.
Exit codes of submit --watch and watch: 0 succeeded, 1 failed, 3 cancelled, 130 stopped
watching (Ctrl-C; the job goes on); any command: 2 the API (or the client, before
sending anything) refused the request, 4 the API could not be reached.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

from digitgan.cli.progress import ProgressDisplay
from digitgan.client import (
    DEFAULT_URL,
    ApiError,
    Client,
    ProgressEvent,
    StateEvent,
    Unreachable,
)
from digitgan.jobs import FINISHED_STATES, JobState
from digitgan.schemas import JobOut

EXIT_CODES = {JobState.succeeded: 0, JobState.failed: 1, JobState.cancelled: 3}
EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 2, 4, 130
# The JobRequest fields that `submit` has an option for (--batch-size: batch_size).
SUBMIT_FIELDS = (
    "architecture",
    "steps",
    "batch_size",
    "learning_rate",
    "d_learning_rate",
    "seed",
    "dataset",
    "checkpoint_every",
    "resume_from",
    "init_from",
    "publish",
    "ema_decay",
    "label_smoothing",
    "loss",
    "augment",
    "lr_decay_from",
    "r1_gamma",
)


def describe(job: JobOut) -> str:
    text = f"job {job.id}: {job.state.value}"
    if job.state == JobState.running:
        text += f" (attempt {job.attempt} on {job.worker}, {job.device})"
    if job.checkpoint_id and job.state in FINISHED_STATES:
        text += f", checkpoint {job.checkpoint_id}"
    if job.error:
        text += f"\n  error: {job.error}"
    return text


def watch(client: Client, job_id: str, display: ProgressDisplay) -> JobOut:
    """Follow the job until it ends (the client reconnects by itself); its final record."""
    shown, job = "", None
    for event in client.events(job_id, give_up_after=None):
        if isinstance(event, StateEvent):
            job = event.job
            if describe(job) != shown:  # a new stream starts with the record again
                shown = describe(job)
                display.line(shown)
            if job.state == JobState.running and job.progress.step:
                display.progress(job.progress)
        elif isinstance(event, ProgressEvent):
            display.progress(event.progress)
        else:
            display.line(f"({event.detail}; still watching)")
    if job is None:  # events() ends only after a finished job's state
        raise RuntimeError(f"the events of job {job_id} ended without its state")
    return job


def _watch_to_exit_code(client: Client, job_id: str) -> int:
    try:
        with ProgressDisplay() as display:
            job = watch(client, job_id, display)
    except KeyboardInterrupt:
        print(
            f"\nstopped watching; job {job_id} goes on "
            f"(digitgan watch {job_id} / digitgan cancel {job_id})"
        )
        return EXIT_INTERRUPTED
    return EXIT_CODES[job.state]


def _submit(client: Client, args: argparse.Namespace) -> int:
    given = {f: getattr(args, f) for f in SUBMIT_FIELDS if getattr(args, f) is not None}
    job = client.submit(**given)
    print(f"submitted job {job.id} ({job.url})", flush=True)
    return _watch_to_exit_code(client, job.id) if args.watch else 0


def _watch(client: Client, args: argparse.Namespace) -> int:
    return _watch_to_exit_code(client, args.job_id)


def _list(client: Client, args: argparse.Namespace) -> int:
    page = client.jobs(args.limit, args.offset, args.state)
    print(f"{'id':32}  {'state':9}  {'step':>13}  {'attempt':>7}  created")
    for job in page.jobs:
        steps = f"{job.progress.step}/{job.spec.steps}"
        print(f"{job.id:32}  {job.state.value:9}  {steps:>13}  {job.attempt:>7}  {_when(job)}")
    print(f"({len(page.jobs)} of {page.total})")
    return 0


def _when(job: JobOut) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.created_at))


def _cancel(client: Client, args: argparse.Namespace) -> int:
    print(describe(client.cancel(args.job_id)))
    return 0


def _samples(client: Client, args: argparse.Namespace) -> int:
    image = client.samples(
        args.n,
        args.seed,
        digit=args.digit,
        rows=args.rows,
        cols=args.cols,
        size=args.size,
        checkpoint=args.checkpoint,
    )
    image.save(args.output)
    print(
        f"wrote {args.n} samples of checkpoint {image.checkpoint_id} (seed {image.seed}) "
        f"to {args.output}"
    )
    return 0


def _dataset_upload(client: Client, args: argparse.Namespace) -> int:
    uploaded = client.upload_dataset(args.path, images=args.images, labels=args.labels)
    print(
        f"data set {uploaded.id}: {uploaded.count} digits (per digit {uploaded.per_digit}); "
        f"train on it with --dataset {uploaded.dataset}"
    )
    return 0


def _dataset_list(client: Client, args: argparse.Namespace) -> int:
    page = client.datasets(args.limit, args.offset)
    print(f"{'dataset':23}  {'digits':>7}  {'MiB':>6}  {'created':19}  name")
    for d in page.datasets:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d.created_at))
        print(f"{d.dataset:23}  {d.count:>7}  {d.bytes / 2**20:>6.1f}  {created}  {d.name}")
    print(f"({len(page.datasets)} of {page.total})")
    return 0


def _dataset_delete(client: Client, args: argparse.Namespace) -> int:
    client.delete_dataset(args.dataset_id.removeprefix("upload:"))
    print(f"deleted data set {args.dataset_id}")
    return 0


def _checkpoint_list(client: Client, args: argparse.Namespace) -> int:
    page = client.checkpoints(args.limit, args.offset)
    print(f"{'id':48}  {'architecture':12}  {'step':>7}  {'dataset':23}  names")
    for c in page.checkpoints:
        meta = c.meta
        print(
            f"{c.id:48}  {meta.get('architecture', '?'):12}  {meta.get('step', '?'):>7}  "
            f"{meta.get('dataset', '?'):23}  {' '.join(c.aliases)}"
        )
    print(f"({len(page.checkpoints)} of {page.total})")
    return 0


def _checkpoint_delete(client: Client, args: argparse.Namespace) -> int:
    client.delete_checkpoint(args.checkpoint_id)
    print(f"deleted checkpoint {args.checkpoint_id}")
    return 0


def _run(
    command: Callable[[Client, argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            with Client(args.url, args.token) as client:
                return command(client, args)
        # ValueError (pydantic's ValidationError is one) and OSError: refused here,
        # before anything was sent (a misspelt value, a file that is not there).
        except (ApiError, ValueError, OSError) as exc:
            print(f"digitgan: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        except Unreachable as exc:
            print(f"digitgan: {exc}", file=sys.stderr)
            return EXIT_UNREACHABLE

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
        help="bearer token for the commands that change something (default: $DIGITGAN_API_TOKEN)",
    )

    submit = commands.add_parser("submit", parents=[remote], help="start a training job")
    submit.add_argument("--architecture")
    submit.add_argument("--steps", type=int)
    submit.add_argument("--batch-size", type=int)
    submit.add_argument("--learning-rate", type=float, help="the generator's")
    submit.add_argument("--d-learning-rate", type=float, help="the discriminator's")
    submit.add_argument("--seed", type=int)
    submit.add_argument("--dataset", help="mnist-5k, mnist, or upload:<id> (datasets upload)")
    submit.add_argument("--checkpoint-every", type=int)
    submit.add_argument("--resume-from", metavar="CHECKPOINT_ID")
    submit.add_argument(
        "--init-from", metavar="CHECKPOINT", help="fine-tune: start from its weights (id/alias)"
    )
    submit.add_argument(
        "--publish",
        action=argparse.BooleanOptionalAction,
        help="move `latest` when it succeeds (default: for mnist jobs from scratch)",
    )
    submit.add_argument("--ema-decay", type=float)
    submit.add_argument("--label-smoothing", type=float)
    submit.add_argument("--lr-decay-from", type=float, help="fraction of the steps (1: never)")
    submit.add_argument("--r1-gamma", type=float, help="R1 penalty's weight (0: off)")
    submit.add_argument("--loss")
    submit.add_argument("--augment")
    submit.add_argument("--watch", action="store_true", help="then watch it until it ends")
    submit.set_defaults(func=_run(_submit))

    watch_cmd = commands.add_parser(
        "watch", parents=[remote], help="follow a job with a progress bar until it ends"
    )
    watch_cmd.add_argument("job_id")
    watch_cmd.set_defaults(func=_run(_watch))

    list_cmd = commands.add_parser("list", parents=[remote], help="list jobs, newest first")
    list_cmd.add_argument("--state", choices=[s.value for s in JobState])
    list_cmd.add_argument("--limit", type=int, default=20)
    list_cmd.add_argument("--offset", type=int, default=0)
    list_cmd.set_defaults(func=_run(_list))

    cancel = commands.add_parser("cancel", parents=[remote], help="cancel a job")
    cancel.add_argument("job_id")
    cancel.set_defaults(func=_run(_cancel))

    samples = commands.add_parser("samples", parents=[remote], help="download a PNG of samples")
    samples.add_argument("-o", "--output", default="samples.png")
    samples.add_argument("-n", type=int, default=16)
    samples.add_argument("--seed", type=int)
    samples.add_argument("--digit", type=int, help="only this digit (conditional models)")
    samples.add_argument("--rows", action="store_true", help="row r: digit r mod 10")
    samples.add_argument("--cols", type=int)
    samples.add_argument("--size", type=int, help="height in pixels")
    samples.add_argument("--checkpoint", default="latest", help="an id, an alias or latest")
    samples.set_defaults(func=_run(_samples))

    _add_datasets(commands, remote)
    _add_checkpoints(commands, remote)


def _add_datasets(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], remote: argparse.ArgumentParser
) -> None:
    datasets = commands.add_parser("datasets", help="uploaded data sets").add_subparsers(
        dest="action", required=True
    )
    upload = datasets.add_parser(
        "upload", parents=[remote], help="upload a zip (3/any.png ...) or an IDX pair"
    )
    upload.add_argument("path", nargs="?", help="a zip of images in folders named 0 to 9")
    upload.add_argument("--images", help="an MNIST-format IDX images file (or .gz)")
    upload.add_argument("--labels", help="its IDX labels file (or .gz)")
    upload.set_defaults(func=_run(_dataset_upload))

    listed = datasets.add_parser("list", parents=[remote], help="uploaded data sets, newest first")
    listed.add_argument("--limit", type=int, default=20)
    listed.add_argument("--offset", type=int, default=0)
    listed.set_defaults(func=_run(_dataset_list))

    delete = datasets.add_parser("delete", parents=[remote], help="delete an uploaded data set")
    delete.add_argument("dataset_id", help="its id (or upload:<id>)")
    delete.set_defaults(func=_run(_dataset_delete))


def _add_checkpoints(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], remote: argparse.ArgumentParser
) -> None:
    checkpoints = commands.add_parser("checkpoints", help="published checkpoints").add_subparsers(
        dest="action", required=True
    )
    listed = checkpoints.add_parser("list", parents=[remote], help="newest first, with names")
    listed.add_argument("--limit", type=int, default=20)
    listed.add_argument("--offset", type=int, default=0)
    listed.set_defaults(func=_run(_checkpoint_list))

    delete = checkpoints.add_parser(
        "delete", parents=[remote], help="delete one (not while latest or an alias names it)"
    )
    delete.add_argument("checkpoint_id")
    delete.set_defaults(func=_run(_checkpoint_delete))
