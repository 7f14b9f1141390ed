"""The `clavadb` command: clone, train, sample, inspect, report, example."""

from __future__ import annotations

import functools
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import click

from clavadb import __version__, preflight
from clavadb import dsn as dsns
from clavadb.config import load_config
from clavadb.console import Console
from clavadb.errors import (
    EXIT_SIGINT,
    EXIT_SIGTERM,
    EXIT_UNEXPECTED,
    ClavaError,
    ConfigError,
    Interrupted,
)

PRESETS = ("fast", "paper", "test")
SCALE_RANGE = (0.01, 10.0)  # root-table row multipliers the model is meant for (README)
SEED_MAX = 2**32 - 1  # the largest seed numpy's legacy seeding accepts; every seed below it works everywhere
# rows per batch handed to the destination: the adapters' own batch size, so progress costs no copy
WRITE_BATCH_ROWS = 65_536
# option names that carry a DSN: their passwords are masked in everything printed
DSN_ARGS = ("src", "dst", "dsn", "real", "synth")


# -- shared options --------------------------------------------------------------------------------

def output_options(fn: Callable) -> Callable:
    fn = click.option("--debug", is_flag=True, help="Show the full traceback of an error.")(fn)
    fn = click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")(fn)
    return fn


def log_option(fn: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable log: one JSON object a line.")(fn)


def selection_options(fn: Callable) -> Callable:
    for opt in reversed([
        click.option("--schema", "schemas", multiple=True, help="Source schema(s) to read (default: public / main)."),
        click.option("--tables", multiple=True, help="Only these tables (and the tables they reference). Repeatable "
                     "or comma-separated."),
        click.option("--exclude", multiple=True, help="Leave these tables out (their children must go too)."),
        click.option("--config", "config_path", type=click.Path(dir_okay=False), help="A clavadb.toml."),
        click.option("--preset", type=click.Choice(PRESETS), default=None,
                     help="Model size: fast (default, minutes on a CPU), paper (the paper's settings, for a GPU), "
                     "test (seconds, for smoke tests)."),
        click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Override a model setting: k, lam, eta, steps, timesteps, sample_steps, width, depth, "
                     "batch_size, lr."),
        click.option("--rare-k", type=click.IntRange(min=1), default=None,
                     help="Categorical values seen fewer times are not emitted verbatim (default 5)."),
        click.option("--method", type=click.Choice(["clava", "independent"]), default="clava", hidden=True),
    ]):
        fn = opt(fn)
    return fn


def sampling_options(fn: Callable) -> Callable:
    fn = click.option("--seed", type=click.IntRange(0, SEED_MAX), default=None,
                      help="Random seed; the same seed gives the same copy.")(fn)
    fn = click.option("--scale", type=click.FloatRange(*SCALE_RANGE), default=None,
                      help="Multiply the root tables' row counts (0.01-10).")(fn)
    fn = click.option("--replace", is_flag=True, default=None,
                      help="Drop and recreate the cloned tables if the destination has them (refused when "
                      "views or other tables depend on them).")(fn)
    fn = click.option("--replace-cascade", is_flag=True, default=False,
                      help="With --replace: also drop the views and foreign keys that depend on those tables.")(fn)
    fn = click.option("--dry-run", is_flag=True, help="Show the plan per column and write nothing.")(fn)
    return fn


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _parse_overrides(pairs: tuple[str, ...], preset: str) -> dict[str, Any]:
    """--set KEY=VALUE pairs as settings, each checked for its name, type and range before any work."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set {pair!r} is not KEY=VALUE")
        k, v = pair.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    _check_settings(out, preset)
    return out


# settings that may be 0 (every other number must be positive): off switches and plain values
_ZERO_OK = {"onehot_max", "eta", "lam", "dropout", "p_uncond", "weight_decay", "seed", "ddim_eta"}
_SHARES = {"dropout", "p_uncond", "ddim_eta"}  # probabilities: at most 1


def _check_settings(over: dict[str, Any], preset: str) -> None:
    from clavadb.model.presets import Settings, resolve

    resolve(preset, over)  # unknown names, the schedule
    defaults = Settings()
    for k, v in over.items():
        if k in ("width", "depth"):
            want: Any = 1
        elif k in {f.name for f in fields(Settings)}:
            want = getattr(defaults, k)
        else:
            continue
        bad = f"--set {k}={json.dumps(v)}"
        if isinstance(want, bool) or k in ("calibrate", "conditional", "label_head"):
            if not isinstance(v, bool):
                raise ConfigError(f"{bad}: expected true or false")
            continue
        if k == "schedule":
            continue
        if isinstance(want, list):
            if not (isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) and x > 0
                                                       for x in v)):
                raise ConfigError(f"{bad}: expected a list of positive integers, e.g. [128,128]")
            continue
        integer = isinstance(want, int) or k in ("k", "steps", "classifier_steps", "threads")
        if isinstance(v, bool) or not isinstance(v, int | float) or (integer and not isinstance(v, int)):
            raise ConfigError(f"{bad}: expected {'an integer' if integer else 'a number'}")
        if not math.isfinite(v) or v < 0 or (v == 0 and k not in _ZERO_OK) or (k in _SHARES and v > 1):
            raise ConfigError(f"{bad} is out of range",
                              "use a value from 0 to 1" if k in _SHARES else "use a positive value")


def _secrets(kwargs: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for name in DSN_ARGS:
        if isinstance(kwargs.get(name), str):
            out += dsns.secrets_of(kwargs[name])
    return out


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Interrupted(signum)


def _interrupt_line(console: Console, e: BaseException) -> tuple[str, int]:
    term = isinstance(e, Interrupted)
    what = "terminated (SIGTERM)" if term else "interrupted (Ctrl-C)"
    where = f" during {console.stage}" if console.stage else ""
    return f"{what}{where}; nothing was written, the destination is as it was", EXIT_SIGTERM if term else EXIT_SIGINT


def run_command(fn: Callable) -> Callable:
    """One clear line and a distinct exit code for every failure (README lists them); a traceback only
    with --debug. SIGTERM unwinds like Ctrl-C: transactions roll back, temporary files are removed."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        console = Console(quiet=kwargs.get("quiet", False), as_json=kwargs.get("as_json", False),
                          secrets=_secrets(kwargs))
        debug = kwargs.get("debug", False)
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            fn(console, *args, **kwargs)
        except ClavaError as e:
            if debug:
                raise
            console.error(str(e), e.exit_code)
            sys.exit(e.exit_code)
        except KeyboardInterrupt as e:  # Ctrl-C, and SIGTERM as Interrupted
            line, code = _interrupt_line(console, e)
            console.error(line, code)
            sys.exit(code)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as e:  # noqa: BLE001 - the last line of defence for the user
            if _is_interrupt(e):
                line, code = _interrupt_line(console, KeyboardInterrupt())
                console.error(line, code)
                sys.exit(code)
            if debug:
                raise
            console.error(f"unexpected {type(e).__name__}: {e} (rerun with --debug for the traceback)",
                          EXIT_UNEXPECTED)
            sys.exit(EXIT_UNEXPECTED)
        finally:
            signal.signal(signal.SIGTERM, previous)

    return wrapper


def _is_interrupt(e: BaseException) -> bool:
    """DuckDB reports Ctrl-C inside a query as its own InterruptException (known by name: the CLI imports
    no engine)."""
    return any(c.__name__ == "InterruptException" and c.__module__.startswith("duckdb") for c in type(e).__mro__)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="clavadb")
def main() -> None:
    """Clone a relational database into a realistic, constraint-valid synthetic copy (ClavaDDPM).

    DSNs: postgresql://user:pass@host:port/db, duckdb:///path/file.duckdb, or a path ending in .duckdb.
    """


# -- settings resolution ---------------------------------------------------------------------------

def _options(schemas, tables, exclude, config_path, preset, overrides, rare_k, method):
    from clavadb.pipeline import Options

    cfg = load_config(config_path)
    clone_cfg = cfg.get("clone", {})
    _check_clone_config(clone_cfg, config_path)
    preset = preset or clone_cfg.get("preset", "fast")
    return Options(
        schemas=list(schemas) or None,
        tables=_split(tables) or None,
        exclude=_split(exclude) or None,
        preset=preset,
        method=method,
        overrides=_parse_overrides(overrides, preset),
        rare_k=rare_k if rare_k is not None else int(clone_cfg.get("rare_k", 5)),
        config=cfg,
    )


def _check_clone_config(c: dict[str, Any], path: str | None) -> None:
    """The [clone] values of the config, held to the same types and ranges as the options."""
    def bad(key: str, want: str) -> ConfigError:
        return ConfigError(f"{path}: [clone] {key} = {c[key]!r} is not {want}")

    if "scale" in c and (isinstance(c["scale"], bool) or not isinstance(c["scale"], int | float)
                         or not SCALE_RANGE[0] <= c["scale"] <= SCALE_RANGE[1]):
        raise bad("scale", f"a number from {SCALE_RANGE[0]} to {SCALE_RANGE[1]:g}")
    if "seed" in c and (isinstance(c["seed"], bool) or not isinstance(c["seed"], int)
                        or not 0 <= c["seed"] <= SEED_MAX):
        raise bad("seed", f"an integer from 0 to {SEED_MAX}")
    if "rare_k" in c and (isinstance(c["rare_k"], bool) or not isinstance(c["rare_k"], int) or c["rare_k"] < 1):
        raise bad("rare_k", "a positive integer")
    if "preset" in c and c["preset"] not in PRESETS:
        raise bad("preset", f"one of {', '.join(PRESETS)}")
    if "replace" in c and not isinstance(c["replace"], bool):
        raise bad("replace", "true or false")


def _sampling(cfg: dict, scale, seed, replace, cascade: bool = False) -> tuple[float, int, bool]:
    c = cfg.get("clone", {})
    return (
        float(scale if scale is not None else c.get("scale", 1.0)),
        int(seed if seed is not None else c.get("seed", 0)),
        bool(cascade or (replace if replace is not None else c.get("replace", False))),
    )


# -- commands --------------------------------------------------------------------------------------

@main.command()
@click.argument("src")
@click.argument("dst")
@selection_options
@sampling_options
@log_option
@output_options
@run_command
def clone(console: Console, src, dst, schemas, tables, exclude, config_path, preset, overrides, rare_k, method,
          seed, scale, replace, replace_cascade, dry_run, as_json, quiet, debug):
    """Learn SRC and write a synthetic copy of it into DST."""
    from clavadb import pipeline

    opts = _options(schemas, tables, exclude, config_path, preset, overrides, rare_k, method)
    scale, seed, replace = _sampling(opts.config, scale, seed, replace, replace_cascade)
    dsns.parse(dst)
    checked = preflight.source(src, opts)
    if not dry_run:
        preflight.destination(dst, checked.schema, replace=replace, cascade=replace_cascade, src=src,
                              src_identity=checked.identity)
    timer = pipeline.Timer()
    guard: list = []
    syn = _learn(console, src, opts, timer, dry_run, checked.schema, guard)
    if syn is not None:
        _sample_and_write(console, syn, dst, scale, seed, replace, replace_cascade, timer,
                          src=src, src_identity=checked.identity, next_src=src, guard=guard[0])


def _learn(console: Console, src: str, opts, timer, dry_run: bool, schema, guard: list | None = None):
    """Read the source and fit the model; with --dry-run print the plan instead and return None. With
    `guard` (a list), the copy check's hold on the real rows is appended to it (pipeline.copy_guard)."""
    from clavadb import pipeline

    console.expect("read", {k: t.row_count for k, t in schema.tables.items()})
    console.begin("read")
    source = timer.run("read", lambda: pipeline.read_source(src, opts, _read_progress(console)))
    if dry_run:
        for n in source.notes:
            console.note(n)
        plans = pipeline.plan(source, opts)
        _print_plan(console, source.schema, plans, pipeline.find_dependencies(source, plans, opts))
        return None
    console.expect("fit", {k: len(f) for k, f in source.frames.items()})
    console.begin("fit")
    syn = pipeline.train(source, opts, console.progress, timer)
    if guard is not None:
        guard.append(pipeline.copy_guard(syn, source.frames))
    for n in source.notes:
        console.note(n)
    return syn


def _read_progress(console: Console) -> Callable[[str, str, float], None]:
    """The pipeline reports reading as (table, share of tables begun); the console counts per table."""
    state: dict[str, str] = {}

    def progress(stage: str, table: str, fraction: float) -> None:
        prev = state.get("table")
        if prev and prev != table:
            console.progress(stage, prev, 1.0)
        if table:
            console.progress(stage, table, 0.0)
        state["table"] = table

    return progress


@main.command()
@click.argument("src")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="The model file to write.")
@selection_options
@click.option("--dry-run", is_flag=True, help="Show the plan per column and write nothing.")
@log_option
@output_options
@run_command
def train(console: Console, src, output, schemas, tables, exclude, config_path, preset, overrides, rare_k, method,
          dry_run, as_json, quiet, debug):
    """Learn SRC once and save the model to a file (holds no real row), for `clavadb sample`."""
    from clavadb import pipeline

    opts = _options(schemas, tables, exclude, config_path, preset, overrides, rare_k, method)
    if not dry_run:
        preflight.output_file(output, "model file")
    checked = preflight.source(src, opts)
    timer = pipeline.Timer()
    syn = _learn(console, src, opts, timer, dry_run, checked.schema)
    if syn is None:
        return
    # digests of what the source is, so that `sample` refuses to write into it (the file does not name it)
    syn.attachment["source_fingerprints"] = preflight.fingerprints(src, checked.identity)
    tmp = f"{output}.partial"
    console.begin("save")
    try:
        timer.run("save", lambda: syn.save(tmp))
        os.replace(tmp, output)  # a model file is either whole or absent
    finally:
        Path(tmp).unlink(missing_ok=True)
    from clavadb.model_check import sign

    sig = sign(output)  # with CLAVADB_MODEL_KEY set, `sample` then accepts only this exact file
    size = Path(output).stat().st_size
    data = {"model": output, "bytes": size, "tables": len(syn.schema.tables), "signature": str(sig) if sig else None,
            "seconds": {k: round(v, 2) for k, v in timer.stages.items()}}
    console.summary(data, f"model written to {output} ({size / 1e6:.1f} MB)"
                    + (f", signed in {sig}" if sig else "") + "\n" + _stage_line(timer.stages)
                    + f"\nnext: clavadb sample {output} DST")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("dst")
@sampling_options
@click.option("--executor", default="local", show_default=True,
              help="Where sampling runs: local (this machine's cores), ray (a local Ray cluster) or "
                   "ray://HOST:PORT (a running cluster); the same seed gives the same copy on any of them.")
@click.option("--check-against", "check_against", metavar="SRC", default=None,
              help="The source the model was trained on: read to check that no synthetic row (or generated name) "
                   "equals a real one, redrawing those that do. Without it that check is not run.")
@log_option
@output_options
@run_command
def sample(console: Console, model, dst, seed, scale, replace, replace_cascade, dry_run, executor, check_against,
           as_json, quiet, debug):
    """Write a synthetic database into DST from a MODEL file made by `clavadb train`."""
    from clavadb.executor import executor_from
    from clavadb.model_check import load_model
    from clavadb.pipeline import Timer

    if not Path(model).is_file():
        raise ClavaError(f"no model file at {model}", "make one with: clavadb train SRC -o MODEL")
    dsns.parse(dst)
    timer = Timer()
    syn = timer.run("load", lambda: load_model(model))
    scale, seed, replace = _sampling({}, scale, seed, replace, replace_cascade)
    if dry_run:
        from clavadb.dependencies import Dependency
        from clavadb.state import PipelineState

        state = PipelineState.of(syn)
        _print_plan(console, syn.schema, state.plans, [Dependency.from_dict(d) for d in state.dependencies])
        return
    fps = syn.attachment.get("source_fingerprints")
    preflight.destination(dst, syn.schema, replace=replace, cascade=replace_cascade, src_fingerprints=fps)
    runner = None if executor == "local" else executor_from(executor, 1)
    guard = None
    if check_against:
        from clavadb import pipeline

        dsns.parse(check_against)
        real = timer.run("read", lambda: pipeline.read_real(check_against, syn))
        guard = pipeline.copy_guard(syn, real)
        del real
    _sample_and_write(console, syn, dst, scale, seed, replace, replace_cascade, timer, src_fingerprints=fps,
                      executor=runner, guard=guard, src=check_against)


def _batches(console: Console, key: str, table, batch_rows: int) -> Iterator:
    """A table's rows as record batches, reporting each one to the console as the destination takes it."""
    total = max(table.num_rows, 1)
    done = 0
    console.progress("write", key, 0.0)
    for b in table.to_batches(max_chunksize=batch_rows):
        yield b
        done += b.num_rows
        console.progress("write", key, done / total)
    console.progress("write", key, 1.0)


def _sample_and_write(console: Console, syn, dst: str, scale: float, seed: int, replace: bool, cascade: bool,
                      timer, *, src: str | None = None, src_identity: tuple | None = None,
                      src_fingerprints: list[str] | None = None, next_src: str | None = None,
                      executor=None, guard=None) -> None:
    from clavadb import pipeline
    from clavadb.adapters import open_adapter

    with open_adapter(dst, read_only=False) as out:
        # once more, on the connection that writes: the same database may have two names
        preflight.refuse_source(out, src, dst, src_identity, src_fingerprints)

        def check_eval(table, data):
            return out.evaluate_checks(table, data, syn.schema)

        console.expect("sample", {k: round(tm.n_rows * scale) for k, tm in getattr(syn, "tables", {}).items()
                                  if hasattr(tm, "n_rows")})
        console.begin("sample")
        synth = pipeline.generate(syn, scale, seed, check_eval=check_eval, timer=timer, executor=executor,
                                  progress=console.progress, guard=guard)
        n = len(synth.schema.tables)
        arrow = pipeline.to_arrow(synth.frames)
        console.expect("write", {k: t.num_rows for k, t in arrow.items()})
        console.begin("write")
        data = {k: _batches(console, k, t, WRITE_BATCH_ROWS) for k, t in arrow.items()}
        report = timer.run("write", lambda: out.write(synth.schema, data, replace=replace, cascade=cascade))
    for s in report.type_substitutions:  # "t.c: tsvector -> VARCHAR", or a sentence of its own
        console.note(f"type substituted: {s}" if " -> " in s else s)
    repairs = {t: {k: v for k, v in r.items() if v} for t, r in synth.repairs.items()} if synth.repairs else {}
    repairs = {t: r for t, r in repairs.items() if r}
    rows = sum(report.tables.values())
    shown = dsns.redact(dst)
    generated = _generated_columns(syn)
    notes = list(syn.attachment.get("notes", []))
    next_cmd = f"clavadb report {dsns.redact(next_src)} {shown} --html report.html" if next_src else None
    data = {
        "destination": shown, "tables": report.tables, "rows": rows, "constraints_validated": report.constraints,
        "repairs": repairs, "copies_resampled": synth.copies_resampled, "generated": generated, "notes": notes,
        "seconds": {k: round(v, 2) for k, v in timer.stages.items()}, "next": next_cmd,
    }
    lines = [f"wrote {n} tables, {rows:,} rows to {shown}"]
    lines += [f"  {t:<32} {r:>10,} rows" for t, r in report.tables.items()]
    lines.append(f"constraints declared and validated by the destination: {report.constraints}")
    if generated:
        lines.append("generated rather than modeled:")
        lines += [f"  {how:<32} {', '.join(cols)}" for how, cols in generated.items()]
    if repairs:
        lines.append("values repaired to meet constraints: " + "; ".join(
            f"{t}: " + ", ".join(f"{k} {v}" for k, v in r.items()) for t, r in repairs.items()))
    if synth.copies_resampled is None:
        lines.append("copy check: not run (give --check-against SRC to compare the copy with its source)")
    else:
        lines.append(f"copy check against the source: no row equals a real one "
                     f"({synth.copies_resampled} redrawn)")
    if report.type_substitutions or notes:
        lines.append(f"notes: {len(report.type_substitutions) + len(notes)} (above)")
    lines.append(_stage_line(timer.stages))
    if next_cmd:
        lines.append(f"next: {next_cmd}")
    console.summary(data, "\n".join(lines))


def _generated_columns(syn) -> dict[str, list[str]]:
    """Columns not learned by the model, grouped by how they were produced (from the model's plan)."""
    out: dict[str, list[str]] = {}
    names = {"generate": "generated", "key": "new keys", "constant": "constant", "exclude": "excluded (NULL)",
             "keep": "kept as is"}
    for p in syn.attachment.get("plans", []):
        action = p.get("action")
        if action in ("model", "key"):
            continue
        how = names.get(action, action)
        if action == "generate" and p.get("generator"):
            how = f"generated as {p['generator']}"
        out.setdefault(how, []).append(f"{p['table']}.{p['column']}")
    return out


def _stage_line(stages: dict[str, float]) -> str:
    return "time: " + ", ".join(f"{k} {v:.1f}s" for k, v in stages.items()) + f" (total {sum(stages.values()):.1f}s)"


def _print_plan(console: Console, schema, plans, deps=()) -> None:
    by_table: dict[str, list] = {}
    for p in plans:
        by_table.setdefault(p.table, []).append(p)
    if console.as_json:
        console._emit({"event": "plan", "columns": [p.__dict__ for p in plans],
                       "dependencies": [{k: v for k, v in d.to_dict().items() if k != "mapping"} for d in deps]})
        return
    for key, table in schema.tables.items():
        console.echo(f"{key} ({table.row_count:,} rows)")
        for p in by_table.get(key, []):
            how = {
                "model": "modeled",
                "key": "new key",
                "generate": f"generated as {p.generator}",
                "constant": "constant",
                "exclude": "excluded (NULL or default)",
                "keep": "kept as is (lookup table)",
            }.get(p.action, p.action)
            console.echo(f"  {p.column:<28} {how}" + (f"  [{p.reason}]" if p.reason and p.reason not in how else ""))
    if deps:
        console.echo("dependencies kept (the dependent is derived, exceptions at their real rate)")
        for d in deps:
            console.echo(f"  {d.describe()}")
    console.echo("dry run: nothing was written")


@main.command()
@click.argument("dsn")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "dot", "mermaid"]), default="text")
@click.option("--schema", "schemas", multiple=True, help="Schema(s) to read (default: public / main).")
@output_options
@run_command
def inspect(console: Console, dsn, fmt, schemas, quiet, debug):
    """Show tables, row counts, keys, constraints and the FK graph of DSN."""
    from clavadb.adapters import open_adapter
    from clavadb.inspect import render

    dsns.parse(dsn)
    with open_adapter(dsn, read_only=True) as src:
        schema = src.introspect(list(schemas) or None)
    console.echo(render(schema, fmt))


@main.command()
@click.argument("real")
@click.argument("synth")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write a self-contained HTML report.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write every number as JSON.")
@click.option("--schema", "schemas", multiple=True)
@click.option("--max-rows", type=click.IntRange(min=1), default=50_000,
              help="Rows sampled per table for pair metrics and DCR.")
@click.option("--seed", type=click.IntRange(0, SEED_MAX), default=0)
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False),
              help="The model file SYNTH was sampled from: its column plan, preset and seed go into the report.")
@output_options
@run_command
def report(console: Console, real, synth, html_path, json_path, schemas, max_rows, seed, model_path, quiet, debug):
    """Fidelity and privacy of SYNTH measured against REAL."""
    from clavadb.adapters import open_adapter
    from clavadb.report.run import run_report

    for d in (real, synth):
        dsns.parse(d)
    for path, what in ((html_path, "HTML report"), (json_path, "JSON report")):
        if path:
            preflight.output_file(path, what)
    for d in (real, synth):  # both reachable before the long reads
        with open_adapter(d, read_only=True):
            pass
    console.begin("report", f"{dsns.redact(real)} against {dsns.redact(synth)}")
    t0 = time.perf_counter()
    result = run_report(real, synth, schemas=list(schemas) or None, html=html_path, json_path=json_path,
                        max_rows=max_rows, seed=seed, model=model_path, progress=console.progress)
    console.end_progress()
    if not quiet:
        console.echo(result.summary())
        for path, what in ((html_path, "HTML report"), (json_path, "JSON report")):
            if path:
                console.note(f"{what} written to {Path(path).resolve()}")
        click.echo(f"({time.perf_counter() - t0:.1f}s)", err=True)


@main.command()
@click.argument("name", type=click.Choice(["chinook", "movielens"]))
@click.argument("dst")
@click.option("--replace", is_flag=True, help="Drop and recreate the example's tables if DST has them.")
@click.option("--replace-cascade", is_flag=True, help="With --replace: also drop what depends on those tables.")
@output_options
@run_command
def example(console: Console, name, dst, replace, replace_cascade, quiet, debug):
    """Write a bundled real example database (chinook or movielens) into DST, to try clavadb on."""
    from clavadb.examples import example_schema, write_example

    dsns.parse(dst)
    replace = replace or replace_cascade
    preflight.destination(dst, example_schema(name), replace=replace, cascade=replace_cascade)
    report = write_example(name, dst, replace=replace, cascade=replace_cascade)
    shown = dsns.redact(dst)
    console.summary({"destination": shown, "tables": report.tables},
                    f"wrote example {name}: {len(report.tables)} tables, {sum(report.tables.values()):,} rows "
                    f"to {shown}\nnext: clavadb clone {shown} SYNTHETIC_DST")


if __name__ == "__main__":
    main()
