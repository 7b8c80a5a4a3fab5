"""The ``loganalyze`` command: a thin typer wrapper over the library.

    loganalyze BUNDLE [--format text|json|md|html] [--lang en|de] [-o FILE]
    loganalyze patterns list|test|explain ID
    loganalyze explain CAUSE
    loganalyze batch INPUTS... --out DIR

Exit codes: 0 no cause of severity error or worse, 1 such a cause found, 2 usage or input
error (one line on stderr, never a traceback), 3 internal error.
"""
from __future__ import annotations

import math
import os
import signal
import sys
import threading
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

SUBCOMMANDS = {"analyze", "patterns", "explain", "batch", "--help", "-h", "--version"}

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Find the documented cause of Azure Linux VM agent and backup failures in a log bundle.")
patterns_app = typer.Typer(add_completion=False, no_args_is_help=True, help="The pattern library.")
app.add_typer(patterns_app, name="patterns")


class Fmt(str, Enum):
    text = "text"
    json = "json"
    md = "md"
    html = "html"


class Lang(str, Enum):
    en = "en"
    de = "de"


class UserError(Exception):
    """A usage or input problem reported as one line, exit 2."""


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"loganalyze: error: {message}", err=True)
    raise typer.Exit(code)


def _parse_time(value: Optional[str]):
    """An absolute ISO time (UTC unless it says otherwise) or a duration like 24h back from collection."""
    if value is None:
        return None
    if not value.isascii():  # '١٢h' read as 12h (red team 17): only the ASCII forms shown in the help
        raise UserError(f"not a time or duration: {value!r} (use 2024-05-01T10:00:00Z or 24h)")
    from .rules import parse_duration
    try:
        return parse_duration(value)
    except OverflowError:
        raise UserError(f"duration too long: {value!r}") from None
    except ValueError:
        pass
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"not a time or duration: {value!r} (use 2024-05-01T10:00:00Z or 24h)") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def _write(text: str, output: Optional[Path]) -> None:
    if output is None:
        _to_stdout(text if text.endswith("\n") else text + "\n")
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc.strerror or exc}") from None


def _to_stdout(text: str) -> None:
    """Print the report: a terminal that cannot show a character gets '?' for it; a closed or
    full standard output is a one-line error."""
    out = sys.stdout
    if out is None:
        raise UserError("standard output is closed: write the report with -o FILE")
    try:
        try:
            out.write(text)
        except UnicodeEncodeError:  # e.g. PYTHONIOENCODING=ascii, or a C locale without UTF-8 mode
            enc = getattr(out, "encoding", None) or "ascii"
            out.write(text.encode(enc, "replace").decode(enc, "replace"))
        out.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise UserError(f"cannot write to standard output: {exc.strerror or exc}") from None


def _path_arg(value: str, what: str, file: bool = False) -> Path:
    """A path given on the command line; an empty one is a usage error (Path("") is the current
    folder); ``file``: one ending in '/' names a folder (Path drops the slash and wrote a file)."""
    if not value.strip():
        raise UserError(f"{what} is empty")
    if file and value.endswith(("/", os.sep)):
        raise UserError(f"{what} {value} names a folder: give a file name")
    return Path(value)


def _not_the_input(output: Path, bundle: Path) -> None:
    """Refuse to write the report over the bundle, or into a bundle folder under a name the
    analysis reads (a log, a config: the next analysis would read the report; an earlier report
    under another name there may be replaced)."""
    from .inputs import classify
    try:
        out, src = output.resolve(), bundle.resolve()
        same = output.exists() and bundle.exists() and os.path.samefile(output, bundle)
    except (OSError, RuntimeError):
        return
    kind = classify(out.relative_to(src).as_posix()) if src.is_dir() and src in out.parents else None
    if out == src or same or (kind is not None and output.exists()):
        raise UserError(f"refusing to write the report over the input: {output}")
    if kind is not None:  # red team 13: '-o B/var/log/waagent.log.9md' was read as a rotation next time
        raise UserError(f"refusing to write the report into the bundle under a name the analysis reads "
                        f"(as {kind}): {output}")


@app.command("analyze")
def analyze_cmd(
    path_arg: str = typer.Argument(..., metavar="PATH",
                                   help="Bundle: log-collector zip, tar.gz, folder or one log file."),
    fmt: Fmt = typer.Option(Fmt.text, "--format", "-f", help="Output format."),
    lang: Lang = typer.Option(Lang.en, "--lang", "-l", help="Language of the report."),
    output_arg: Optional[str] = typer.Option(None, "--output", "-o", help="Write the report to this file."),
    brief: bool = typer.Option(False, "--brief", help="One line per cause."),
    show_all: bool = typer.Option(False, "--all", help="Also list benign noise and below-threshold hits."),
    no_color: bool = typer.Option(False, "--no-color", help="No colours in text output."),
    patterns: Optional[Path] = typer.Option(None, "--patterns", help="Extra pattern folder merged over the built-in library."),
    since: Optional[str] = typer.Option(None, "--since", help="Absolute UTC time or duration before collection (24h)."),
    until: Optional[str] = typer.Option(None, "--until", help="Absolute UTC time or duration before collection."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0,
                             help="Processes reading a big bundle's logs (default: one per core; 1: no workers)."),
) -> None:
    """Analyse one bundle and report the causes found, most likely first."""
    from . import analyzer
    from .model import severity_rank
    from .render import render
    path = _path_arg(path_arg, "the bundle path")
    output = None if output_arg is None else _path_arg(output_arg, "the output file (-o)", file=True)
    if output is not None:
        _not_the_input(output, path)
    report = analyzer.analyze(path, patterns=patterns, since=_parse_time(since), until=_parse_time(until),
                              jobs=jobs or None)
    if fmt is Fmt.html and output is None:
        raise UserError("--format html needs -o FILE")
    color = (not no_color and output is None and fmt is Fmt.text and sys.stdout is not None and sys.stdout.isatty()
             and "NO_COLOR" not in os.environ)
    text = render(report, fmt.value, lang=lang.value, brief=brief, show_all=show_all, color=color)
    _write(text, output)
    worst = report.worst_severity
    raise typer.Exit(1 if worst and severity_rank(worst) >= severity_rank("error") else 0)


@patterns_app.command("list")
def patterns_list(patterns: Optional[Path] = typer.Option(None, "--patterns", help="Extra pattern folder.")) -> None:
    """List every pattern: ID, severity, causes, inputs."""
    from .patterns import load_library
    lib = load_library(patterns)
    for p in sorted(lib.patterns, key=lambda p: p.id):
        causes = ",".join(p.causes) or ("benign" if p.benign else "-")
        typer.echo(f"{p.id:45} {p.severity:8} {causes:40} {','.join(p.inputs)}")
    typer.echo(f"{len(lib.patterns)} patterns, library version {lib.version}")


@patterns_app.command("test")
def patterns_test(patterns: Optional[Path] = typer.Option(None, "--patterns", help="Extra pattern folder.")) -> None:
    """Run every example and counter-example; exit 1 on any failure."""
    from .causes import load_causes
    from .patterns import load_library, test_library
    from .rules import load_rules
    lib = load_library(patterns)
    fails = test_library(lib, load_causes().keys())
    rules = load_rules()
    import fnmatch
    for ref in sorted(rules.referenced_patterns()):
        if not any(fnmatch.fnmatchcase(p.id, ref) for p in lib.patterns):
            fails.append(f"rules.toml: pattern reference {ref!r} matches no pattern")  # type: ignore[arg-type]
    for f in fails:
        typer.echo(str(f))
    n = sum(len(p.examples) + len(p.counter_examples) for p in lib.patterns)
    typer.echo(f"{len(lib.patterns)} patterns, {n} examples: {len(fails)} failures")
    raise typer.Exit(1 if fails else 0)


@patterns_app.command("explain")
def patterns_explain(
    ident: str = typer.Argument(..., help="A pattern ID or a cause ID."),
    lang: Lang = typer.Option(Lang.en, "--lang", "-l"),
    patterns: Optional[Path] = typer.Option(None, "--patterns", help="Extra pattern folder."),
) -> None:
    """Explain a pattern (regex, examples, causes) or a cause (text, solution, patterns behind it)."""
    from .causes import load_causes
    from .patterns import load_library
    lib = load_library(patterns)
    p = lib.get(ident)
    if p is not None:
        typer.echo(f"{p.id}  ({p.where})\n  {p.description}\n  severity: {p.severity}"
                   f"{'  (benign noise)' if p.benign else ''}\n  causes: {', '.join(p.causes) or '-'}"
                   f"\n  inputs: {', '.join(p.inputs) or 'all'}\n  hint: {list(p.hint)}\n  regex: {p.regex}"
                   f"\n  source: {p.source}")
        for ex in p.examples:
            typer.echo(f"  example: {ex}")
        for ex in p.counter_examples:
            typer.echo(f"  counter-example: {ex}")
        return
    if ident in load_causes():
        explain_cmd(ident, lang)
        behind = [q.id for q in lib.patterns if ident in q.causes]
        typer.echo(f"\nPatterns: {', '.join(sorted(behind)) or '-'}")
        return
    raise UserError(f"no pattern or cause named {ident!r} (see 'loganalyze patterns list')")


@app.command("explain")
def explain_cmd(cause: str = typer.Argument(..., help="A cause ID, e.g. no-internet-access."),
                lang: Lang = typer.Option(Lang.en, "--lang", "-l")) -> None:
    """Print a cause from the catalogue: what it means, how to fix it, where it is documented."""
    from .causes import load_causes
    from .i18n import t
    causes = load_causes()
    c = causes.get(cause)
    if c is None:
        from .textio import visible
        shown = visible(cause[:80] + ("..." if len(cause) > 80 else ""))
        raise UserError(f"unknown cause {shown!r}; known: {', '.join(sorted(causes))}")
    lg = lang.value
    typer.echo(f"{c.id}: {c.text('title', lg)}\n")
    typer.echo(c.text("explanation", lg) + "\n")
    if c.detectable in ("no", "partly") and c.text("check_instead", lg):
        typer.echo(f"{t('not_in_linux_bundle', lg)}\n{c.text('check_instead', lg)}\n")
    typer.echo(t("solution", lg) + ":")
    for i, step in enumerate(c.steps(lg), 1):
        typer.echo(f"  {i}. {step}")
    if c.portal_errors:
        typer.echo(f"\n{t('portal_errors', lg)}: {', '.join(c.portal_errors)}")
    for url in c.docs:
        typer.echo(f"{t('docs', lg)}: {url}")


@app.command("batch")
def batch_cmd(
    inputs: List[str] = typer.Argument(..., help="Folders, globs or a text file listing bundle paths."),
    out_arg: str = typer.Option(..., "--out", help="Output folder for the fleet tables and per-bundle JSON."),
    jobs: int = typer.Option(0, "--jobs", "-j", help="Worker processes (default: the machine's cores)."),
    timeout: float = typer.Option(600.0, "--timeout", help="Seconds allowed per bundle."),
    force: bool = typer.Option(False, "--force", help="Re-analyse bundles already in the output."),
    engine: str = typer.Option("local", "--engine", help="local (process pool) or dask."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address."),
) -> None:
    """Analyse many bundles, each in isolation, into one fleet table."""
    out = _path_arg(out_arg, "--out")
    if not math.isfinite(timeout) or timeout <= 0:
        raise UserError(f"--timeout must be a number of seconds above 0, not {timeout}")
    try:
        from .fleet import run_batch
    except ImportError as exc:
        raise UserError(f"batch mode is not available: {exc}") from None
    code = run_batch(inputs, out, jobs=jobs or os.cpu_count() or 1, timeout=timeout, force=force,
                     engine=engine, scheduler=scheduler)
    raise typer.Exit(code)


class _Terminated(BaseException):
    """SIGTERM (``timeout``, ``kill``) or SIGHUP: unwinds like ^C, so the bundle's temporary folder goes."""


def _on_sigterm(signum, frame) -> None:
    raise _Terminated(signum)


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: ``loganalyze PATH`` is short for ``loganalyze analyze PATH``."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
        # a closed terminal or ssh session (SIGHUP) too (red team 17: it left the spooled copies
        # of a bundle's logs in TMPDIR); 'nohup loganalyze ...' keeps it ignored
        if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            signal.signal(signal.SIGHUP, _on_sigterm)
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] not in SUBCOMMANDS:
        args.insert(0, "analyze")
    if args == ["--version"]:
        from . import __version__
        print(f"loganalyzer {__version__}")
        sys.exit(0)
    from .causes import CatalogueError
    from .ingest import InputError
    from .patterns import PatternError
    from .rules import RuleError
    try:
        code = app(args=args, prog_name="loganalyze", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (UserError, InputError, PatternError, RuleError, CatalogueError) as exc:
        print(f"loganalyze: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("loganalyze: interrupted", file=sys.stderr)
        sys.exit(130)
    except _Terminated as exc:
        print("loganalyze: terminated", file=sys.stderr)
        sys.exit(128 + (exc.args[0] if exc.args else signal.SIGTERM))  # 143 for SIGTERM, 129 for SIGHUP
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # usage errors of the (vendored) click and anything unexpected: one line
        if hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int):
            print(f"loganalyze: error: {exc.format_message()}", file=sys.stderr)
            sys.exit(exc.exit_code)
        if type(exc).__name__ == "Abort":
            sys.exit(130)
        if os.environ.get("LOGANALYZE_DEBUG"):
            raise
        print(f"loganalyze: internal error: {type(exc).__name__}: {exc} "
              f"(set LOGANALYZE_DEBUG=1 for a traceback)", file=sys.stderr)
        sys.exit(3)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
