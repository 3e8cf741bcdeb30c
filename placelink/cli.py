"""`placelink init | generate | run | evaluate | report | ui`.

A user's mistake is one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from placelink import __version__
from placelink.errors import CheckFailed, PlacelinkError
from placelink.settings import Settings

STEPS = ("pull", "pseudonymise", "link", "models", "publish", "report")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a mistake argparse has reported
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    try:
        settings = Settings.from_env(home=args.home)
        _check_home(args, settings)
        return args.command(args, settings)
    except CheckFailed as exc:
        print(f"placelink: blocking check failed: {exc}", file=sys.stderr)
        return 1
    except PlacelinkError as exc:
        print(f"placelink: {exc}", file=sys.stderr)
        return 2
    except PermissionError as exc:
        print(f"placelink: {exc.filename}: permission denied", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _check_home(args: argparse.Namespace, settings: Settings) -> None:
    """Only `generate` makes a data home; every other command stops on one that is missing."""
    home = settings.home
    if home.exists() and not home.is_dir():
        raise PlacelinkError(f"{home}: not a folder (--home or PLACELINK_HOME names the data home)")
    if args.command is not _generate and not home.exists():
        raise PlacelinkError(
            f"{home}: no such data home (make one with `placelink generate`, "
            "or point --home or PLACELINK_HOME at one)"
        )


class _Parser(argparse.ArgumentParser):
    """A mistake on the command line is one line on stderr, as every other mistake is."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="placelink",
        description="Link public-service extracts into persons on pseudonymised encodings and "
        "publish integration outcomes.",
        epilog="`placelink COMMAND --help` lists a command's options; every command takes --home.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"placelink {__version__}",
        help="print the version and exit",
    )
    sub = parser.add_subparsers(required=True, metavar="command")

    def command(name: str, fn, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument(
            "--home",
            metavar="PATH",
            help="the data home (default: $PLACELINK_HOME, else ./data)",
        )
        p.set_defaults(command=fn)
        return p

    command("init", _init, "make the provider key and the release key where none is set")

    g = command("generate", _generate, "write the synthetic town's extracts into landing/")
    g.add_argument(
        "--people",
        type=_positive,
        default=50_000,
        metavar="N",
        help="people in the town (default: %(default)s)",
    )
    g.add_argument(
        "--months",
        type=_positive,
        default=36,
        metavar="N",
        help="months of extracts (default: %(default)s)",
    )
    g.add_argument(
        "--seed",
        type=int,
        default=42,
        help="random seed: the same seed, the same town (default: %(default)s)",
    )
    g.add_argument(
        "--errors",
        choices=("default", "none", "heavy"),
        default="default",
        help="how many data-entry errors the extracts carry (default: %(default)s)",
    )

    steps = " | ".join(STEPS)
    r = command("run", _run, "materialise the pipeline and print a summary")
    r.add_argument(
        "--from",
        dest="start",
        choices=STEPS,
        default="pull",
        metavar="STEP",
        help=f"first step, one of {steps}; a role runs only its own steps: provider pull and "
        "pseudonymise, linkage unit link, analytics models to report (default: %(default)s)",
    )
    r.add_argument(
        "--until",
        choices=STEPS,
        default="report",
        metavar="STEP",
        help="last step (default: %(default)s)",
    )
    r.add_argument(
        "--no-retrain",
        action="store_true",
        help="predict with the saved linkage model instead of training it again (default: retrain)",
    )
    r.add_argument(
        "--full-relink",
        action="store_true",
        help="link every record again (and retrain, unless --no-retrain) instead of only the "
        "records new since the last link (default: incremental once there is a last link)",
    )

    e = command("evaluate", _evaluate, "pairwise precision, recall and F1 against truth")
    e.add_argument(
        "--truth",
        type=Path,
        default=None,
        metavar="PATH",
        help="the truth keyed by record pseudonym, or a CSV of plain record ids, which is "
        "pseudonymised with the provider's key (default: content/_truth/, which pseudonymise "
        "writes for a generated town)",
    )
    e.add_argument(
        "--min-f1",
        type=float,
        default=None,
        metavar="F1",
        help="exit 1 when the overall F1 is below this (default: no minimum)",
    )

    command("report", _report, "rebuild the governance report from the last run")

    u = command("ui", _ui, "start the Dagster UI (dagster dev) on this data home")
    u.add_argument(
        "--host", default="127.0.0.1", help="address the UI listens on (default: %(default)s)"
    )
    u.add_argument(
        "--port", type=_port, default=3000, help="port the UI listens on (default: %(default)s)"
    )
    return parser


def _positive(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _port(text: str) -> int:
    value = _whole(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 1 to 65535, not {value}")
    return value


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None


def _init(args: argparse.Namespace, settings: Settings) -> int:
    from placelink.encode import init_keys, load_key, load_release_key
    from placelink.zones import apply_zone_modes

    made = {key.fingerprint for key in init_keys(settings)}
    apply_zone_modes(settings)
    for role, key in (("provider", load_key(settings)), ("release", load_release_key(settings))):
        state = "made" if key.fingerprint in made else "in place"
        print(f"{role} key {state}: {key.source} (fingerprint {key.fingerprint})")
    return 0


def _generate(args: argparse.Namespace, settings: Settings) -> int:
    from placelink.generate import generate

    summary = generate(
        settings.home, people=args.people, months=args.months, seed=args.seed, errors=args.errors
    )
    total = sum(summary.records.values())
    print(
        f"generated {summary.people:,} people, {total:,} records in {summary.files} files "
        f"under {settings.landing} in {summary.seconds:.1f}s"
    )
    for source, count in summary.records.items():
        print(f"  {source:<12} {count:>9,}")
    return 0


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.run import run_pipeline

    summary = run_pipeline(
        settings,
        until=args.until,
        retrain=not args.no_retrain,
        start=args.start,
        full_relink=args.full_relink,
    )
    print(summary.render())
    if summary.error:
        raise PlacelinkError(summary.error)
    if summary.failed_checks:
        raise CheckFailed("; ".join(summary.failed_checks))
    if not summary.success:
        raise PlacelinkError(f"run {summary.run_id} failed: see it in the Dagster UI")
    return 0


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from placelink.link import record_links_path
    from placelink.link.evaluate import evaluation_path, load_truth, write_evaluation

    if not record_links_path(settings).exists():
        raise PlacelinkError(
            f"{record_links_path(settings)}: no linkage yet (run `placelink run` first)"
        )
    truth = load_truth(settings, args.truth)
    if truth is None:
        raise PlacelinkError(
            f"{settings.content / '_truth'}: no truth (only a generated town has one)"
        )
    result, out = write_evaluation(settings, truth), evaluation_path(settings)
    overall = result["overall"]
    print(
        f"pairwise precision {overall['precision']:.4f}  recall {overall['recall']:.4f}  "
        f"F1 {overall['f1']:.4f}  ({result['records_with_truth']:,} records; {out})"
    )
    for pair, score in result["by_source_pair"].items():
        print(
            f"  {pair:<28} P {score['precision']:.3f}  R {score['recall']:.3f}  "
            f"F1 {score['f1']:.3f}"
        )
    if args.min_f1 is not None and overall["f1"] < args.min_f1:
        print(f"placelink: F1 {overall['f1']:.4f} is below --min-f1 {args.min_f1}", file=sys.stderr)
        return 1
    return 0


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from placelink.report import build_report

    content = any(settings.content.glob("*.parquet"))
    if not content and not any(settings.published.glob("*/*.parquet")):
        raise PlacelinkError(f"{settings.home}: nothing to report yet: run `placelink run` first")
    report = build_report(settings)
    print(f"report: {report.path}")
    return 0


def _ui(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.run import prepare_dagster_home

    prepare_dagster_home(settings)
    env = {**os.environ, "DAGSTER_HOME": str(settings.dagster_home)}
    env["PLACELINK_HOME"] = str(settings.home)
    command = [sys.executable, "-m", "dagster", "dev", "-m", "pipelines.definitions"]
    command += ["-h", args.host, "-p", str(args.port)]
    os.execvpe(command[0], command, env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
