"""The `clavadb` command: clone, train, sample, inspect, report, example."""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from clavadb import __version__
from clavadb.config import load_config
from clavadb.console import Console
from clavadb.errors import ClavaError, ConfigError

PRESETS = ("fast", "paper", "test")


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
        click.option("--rare-k", type=int, default=None,
                     help="Categorical values seen fewer times are not emitted verbatim (default 5)."),
        click.option("--method", type=click.Choice(["clava", "independent"]), default="clava", hidden=True),
    ]):
        fn = opt(fn)
    return fn


def sampling_options(fn: Callable) -> Callable:
    fn = click.option("--seed", type=int, default=None, help="Random seed; the same seed gives the same copy.")(fn)
    fn = click.option("--scale", type=float, default=None, help="Multiply the root tables' row counts (0.01-10).")(fn)
    fn = click.option("--replace", is_flag=True, default=None,
                      help="Drop and recreate the cloned tables if the destination has them.")(fn)
    fn = click.option("--dry-run", is_flag=True, help="Show the plan per column and write nothing.")(fn)
    return fn


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _parse_overrides(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set {pair!r} is not KEY=VALUE")
        k, v = pair.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


def run_command(fn: Callable) -> Callable:
    """One clear line and a non-zero exit for every failure; a traceback only with --debug."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        console = Console(quiet=kwargs.get("quiet", False), as_json=kwargs.get("as_json", False))
        debug = kwargs.get("debug", False)
        try:
            fn(console, *args, **kwargs)
        except ClavaError as e:
            if debug:
                raise
            console.error(str(e))
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            console.error("interrupted; nothing was written (the destination is as it was)")
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as e:  # noqa: BLE001 - the last line of defence for the user
            if debug:
                raise
            console.error(f"unexpected {type(e).__name__}: {e} (rerun with --debug for the traceback)")
            sys.exit(1)

    return wrapper


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
    return Options(
        schemas=list(schemas) or None,
        tables=_split(tables) or None,
        exclude=_split(exclude) or None,
        preset=preset or clone_cfg.get("preset", "fast"),
        method=method,
        overrides=_parse_overrides(overrides),
        rare_k=rare_k if rare_k is not None else int(clone_cfg.get("rare_k", 5)),
        config=cfg,
    )


def _sampling(cfg: dict, scale, seed, replace) -> tuple[float, int, bool]:
    c = cfg.get("clone", {})
    return (
        float(scale if scale is not None else c.get("scale", 1.0)),
        int(seed if seed is not None else c.get("seed", 0)),
        bool(replace if replace is not None else c.get("replace", False)),
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
          seed, scale, replace, dry_run, as_json, quiet, debug):
    """Learn SRC and write a synthetic copy of it into DST."""
    from clavadb import pipeline

    opts = _options(schemas, tables, exclude, config_path, preset, overrides, rare_k, method)
    scale, seed, replace = _sampling(opts.config, scale, seed, replace)
    timer = pipeline.Timer()
    syn = _learn(console, src, opts, timer, dry_run)
    if syn is not None:
        _sample_and_write(console, syn, dst, scale, seed, replace, timer)


def _learn(console: Console, src: str, opts, timer, dry_run: bool):
    """Read the source and fit the model; with --dry-run print the plan instead and return None."""
    from clavadb import pipeline

    source = timer.run("read", lambda: pipeline.read_source(src, opts, console.progress))
    if dry_run:
        for n in source.notes:
            console.note(n)
        _print_plan(console, source.schema, pipeline.plan(source, opts))
        return None
    syn = pipeline.train(source, opts, console.progress, timer)
    for n in source.notes:
        console.note(n)
    return syn


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
    timer = pipeline.Timer()
    syn = _learn(console, src, opts, timer, dry_run)
    if syn is None:
        return
    tmp = f"{output}.partial"
    timer.run("save", lambda: syn.save(tmp))
    os.replace(tmp, output)  # a model file is either whole or absent
    size = Path(output).stat().st_size
    data = {"model": output, "bytes": size, "tables": len(syn.schema.tables),
            "seconds": {k: round(v, 2) for k, v in timer.stages.items()}}
    console.summary(data, f"model written to {output} ({size / 1e6:.1f} MB)\n" + _stage_line(timer.stages))


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("dst")
@sampling_options
@log_option
@output_options
@run_command
def sample(console: Console, model, dst, seed, scale, replace, dry_run, as_json, quiet, debug):
    """Write a synthetic database into DST from a MODEL file made by `clavadb train`."""
    from clavadb.model import Synthesizer
    from clavadb.pipeline import Timer

    if not Path(model).is_file():
        raise ClavaError(f"no model file at {model}", "make one with: clavadb train SRC -o MODEL")
    timer = Timer()
    try:
        syn = timer.run("load", lambda: Synthesizer.load(model))
    except ClavaError:
        raise
    except Exception as e:
        raise ClavaError(f"{model} is not a clavadb model file ({type(e).__name__})") from None
    scale, seed, replace = _sampling({}, scale, seed, replace)
    if dry_run:
        from clavadb.privacy import ColumnPlan

        _print_plan(console, syn.schema, [ColumnPlan(**p) for p in syn.extra["plans"]])
        return
    _sample_and_write(console, syn, dst, scale, seed, replace, timer)


def _sample_and_write(console: Console, syn, dst: str, scale: float, seed: int, replace: bool, timer) -> None:
    from clavadb import pipeline
    from clavadb.adapters import engine_of, open_adapter

    duck_path = _duckdb_path(dst) if engine_of(dst) == "duckdb" else None
    created = duck_path is not None and not Path(duck_path).exists()
    try:
        with open_adapter(dst, read_only=False) as out:
            def check_eval(table, data):
                return out.evaluate_checks(table, data, syn.schema)

            synth = pipeline.generate(syn, scale, seed, check_eval=check_eval, timer=timer)
            n = len(synth.schema.tables)
            console.progress("write", "", 0.0)
            report = timer.run("write", lambda: out.write(synth.schema, pipeline.to_arrow(synth.frames),
                                                          replace=replace))
            console.progress("write", "", 1.0)
    except BaseException:
        if created:  # a DuckDB file this run made is removed again: the destination is as it was
            for p in (duck_path, f"{duck_path}.wal"):
                Path(p).unlink(missing_ok=True)
        raise
    for s in report.type_substitutions:
        console.note(f"type substituted: {s}")
    repairs = {t: {k: v for k, v in r.items() if v} for t, r in synth.repairs.items()} if synth.repairs else {}
    repairs = {t: r for t, r in repairs.items() if r}
    rows = sum(report.tables.values())
    data = {
        "destination": dst, "tables": report.tables, "rows": rows, "constraints_validated": report.constraints,
        "repairs": repairs, "copies_resampled": synth.copies_resampled,
        "seconds": {k: round(v, 2) for k, v in timer.stages.items()},
    }
    lines = [f"wrote {n} tables, {rows:,} rows to {dst}"]
    lines += [f"  {t:<32} {r:>10,} rows" for t, r in report.tables.items()]
    lines.append(f"constraints declared and validated by the destination: {report.constraints}")
    if repairs:
        lines.append("values repaired to meet constraints: " + "; ".join(
            f"{t}: " + ", ".join(f"{k} {v}" for k, v in r.items()) for t, r in repairs.items()))
    if synth.copies_resampled:
        lines.append(f"rows equal to a real row, redrawn: {synth.copies_resampled}")
    lines.append(_stage_line(timer.stages))
    console.summary(data, "\n".join(lines))


def _stage_line(stages: dict[str, float]) -> str:
    return "time: " + ", ".join(f"{k} {v:.1f}s" for k, v in stages.items()) + f" (total {sum(stages.values()):.1f}s)"


def _duckdb_path(dsn: str) -> str | None:
    """The file behind a DuckDB DSN (duckdb:///abs/path -> /abs/path), None for an in-memory one."""
    p = dsn[len("duckdb://"):] if dsn.startswith("duckdb://") else dsn
    return None if p in ("", ":memory:", "/:memory:") else p


def _print_plan(console: Console, schema, plans) -> None:
    by_table: dict[str, list] = {}
    for p in plans:
        by_table.setdefault(p.table, []).append(p)
    if console.as_json:
        console._emit({"event": "plan", "columns": [p.__dict__ for p in plans]})
        return
    for key, table in schema.tables.items():
        click.echo(f"{key} ({table.row_count:,} rows)")
        for p in by_table.get(key, []):
            how = {
                "model": "modeled",
                "key": "new key",
                "generate": f"generated as {p.generator}",
                "constant": "constant",
                "exclude": "excluded (NULL or default)",
                "keep": "kept as is (lookup table)",
            }.get(p.action, p.action)
            click.echo(f"  {p.column:<28} {how}" + (f"  [{p.reason}]" if p.reason and p.reason not in how else ""))
    click.echo("dry run: nothing was written")


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

    with open_adapter(dsn, read_only=True) as src:
        schema = src.introspect(list(schemas) or None)
    click.echo(render(schema, fmt))


@main.command()
@click.argument("real")
@click.argument("synth")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write a self-contained HTML report.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write every number as JSON.")
@click.option("--schema", "schemas", multiple=True)
@click.option("--max-rows", type=int, default=50_000, help="Rows sampled per table for pair metrics and DCR.")
@click.option("--seed", type=int, default=0)
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False),
              help="The model file SYNTH was sampled from: its column plan, preset and seed go into the report.")
@output_options
@run_command
def report(console: Console, real, synth, html_path, json_path, schemas, max_rows, seed, model_path, quiet, debug):
    """Fidelity and privacy of SYNTH measured against REAL."""
    from clavadb.report.run import run_report

    t0 = time.perf_counter()
    result = run_report(real, synth, schemas=list(schemas) or None, html=html_path, json_path=json_path,
                        max_rows=max_rows, seed=seed, model=model_path)
    if not quiet:
        click.echo(result.summary())
        click.echo(f"({time.perf_counter() - t0:.1f}s)", err=True)


@main.command()
@click.argument("name", type=click.Choice(["chinook", "movielens"]))
@click.argument("dst")
@click.option("--replace", is_flag=True)
@output_options
@run_command
def example(console: Console, name, dst, replace, quiet, debug):
    """Write a bundled real example database (chinook or movielens) into DST, to try clavadb on."""
    from clavadb.examples import write_example

    report = write_example(name, dst, replace=replace)
    console.summary({"destination": dst, "tables": report.tables},
                    f"wrote example {name}: {len(report.tables)} tables, {sum(report.tables.values()):,} rows to {dst}")


if __name__ == "__main__":
    main()
