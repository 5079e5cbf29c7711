"""Results as Markdown: one run's summary, and the README's tables over every results file.

``python -m benchmarks.gc_overhead.report benchmarks/results/*.json`` prints
the tables; with ``--readme benchmarks/README.md`` it rewrites the part of
that file between the ``<!-- results:begin -->`` and ``<!-- results:end -->``
markers instead.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gc_tutorial.book.results import judge_target

__all__ = ["markdown_report", "readme_tables"]

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


NONE = "—"
"""What a cell shows for a field its results file lacks (files measured before copies,
the A/A beside each comparison and the SGD family)."""


def _pct(ratio: float) -> str:
    return f"{100 * (ratio - 1):+.2f}%"


def _with_interval(ratio: float, interval: Sequence[float]) -> str:
    return f"{_pct(ratio)} ({_pct(interval[0])} .. {_pct(interval[1])})"


def _control(results: dict[str, Any], row: dict[str, Any]) -> str:
    """The A/A control of the comparison's model and optimizer, and whether it resolves."""
    if row.get("control_ratio") is None or row.get("resolved") is None:
        return NONE
    band = results["settings"]["models"][row["model"]].get("resolution")
    within = f"within ±{100 * band:g}%" if band else "within its band"
    return f"{_with_interval(row['control_ratio'], row['control_ci95'])}: " + (
        "resolved" if row["resolved"] else f"**not {within}**"
    )


def _verdict(row: dict[str, Any]) -> str:
    """The target judged on the interval: met, missed, or undecided when it spans the target."""
    if row.get("control"):
        return "A/A control: no GC, no target"
    verdict = {
        "met": "met",
        "missed": "**missed**",
        "undecided": "undecided: the interval spans the target",
    }[judge_target(row["ratio_ci95"][0], row["ratio_ci95"][1], row["target_ratio"])]
    unresolved = row.get("resolved") is False
    return verdict + ("; the A/A control does not resolve it" if unresolved else "")


def _label(results: dict[str, Any], key: str) -> str:
    return str(results["settings"]["models"][key]["label"])


def overhead_table(results: dict[str, Any], group: str | None = "keras") -> list[str]:
    """Rows of ratios to baseline: the Keras arms (``group="keras"``) or the peers (``None``).

    Each row gives the arm's overhead with its 95% interval, the A/A control
    of the same model and optimizer beside it, and the target judged on the
    interval. Fields a results file lacks show as :data:`NONE`.
    """
    lines = [
        "| model | optimizer | arm | baseline | copies | baseline ms/step | arm ms/step "
        "| overhead (95% interval) | A/A control (95% interval) | target | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in results["comparisons"]:
        if (row["group"] == "keras") != (group == "keras"):
            continue
        arm = row["arm"] if group == "keras" else f"{row['group']}: {row['arm']}"
        optimizer = row.get("optimizer") or (
            results["settings"]["models"][row["model"]]["optimizer"] if group == "keras" else NONE
        )
        lines.append(
            f"| {_label(results, row['model'])} | {optimizer} | {arm} | {row['baseline']} "
            f"| {row.get('copies', NONE)} | {row['baseline_median_ms']:.3f} "
            f"| {row['median_ms']:.3f} | {_with_interval(row['ratio'], row['ratio_ci95'])} "
            f"| {_control(results, row)} | <= {_pct(row['target_ratio'])} | {_verdict(row)} |"
        )
    return lines


def pass_table(results: dict[str, Any]) -> list[str]:
    """Rows of the GC pass alone against its floor (each pooled run's, numbered)."""
    lines = [
        "| model | compiled by | centralized parameters | floor ms | pass ms | call alone ms "
        "| pass / floor | net of call / floor | floor / step | pass / step |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in results["gc_pass"]:
        run = f" (run {row['run'] + 1})" if "run" in row else ""
        lines.append(
            f"| {_label(results, row['model'])}{run} | {row['compiler']} "
            f"| {row['centralized_parameters']:,} | {row['floor_ms']:.4f} "
            f"| {row['pass']['median_ms']:.4f} | {row['call']['median_ms']:.4f} "
            f"| {row['ratio_to_floor']:.2f} | {row['ratio_to_floor_net_of_call']:.2f} "
            f"| {100 * row['floor_share_of_step']:.2f}% | {100 * row['pass_share_of_step']:.2f}% |"
        )
    return lines


def _without_out(command: str) -> str:
    """A run's command without its ``--out`` file and ``--resume``: what its copies measured."""
    words = shlex.split(command)
    kept = [
        w
        for i, w in enumerate(words)
        if w not in ("--out", "--resume") and (i == 0 or words[i - 1] != "--out")
    ]
    return shlex.join(kept)


def provenance(results: dict[str, Any]) -> str:
    """One paragraph: command, date, machine, versions, load."""
    m, v, load = results["machine"], results["versions"], results["load_average"]
    versions = ", ".join(f"{name} {version}" for name, version in v.items())
    if "runs" in results:
        runs = results["runs"]
        commands = Counter(_without_out(r["command"]) for r in runs)
        of = " and ".join(f"{n} of `{command}`" for command, n in commands.items())
        measured = (
            f"{len(runs)} runs ({of}) at commit "
            f"{results['git_commit'][:7]} ({', '.join(r['date_utc'] for r in runs)}; "
            f"{results['duration_s']:.0f} s in all), pooled by `{results['command']}`"
        )
        bandwidth = "/".join(f"{r['copy_bandwidth_gb_s']:.2f}" for r in runs)
        processors = Counter(r["machine"]["cpu_model"] for r in runs)
        processor = ", ".join(f"{name} ({count} of the runs)" for name, count in processors.items())
    else:
        measured = f"`{results['command']}` on {results['date_utc']}, {results['duration_s']:.0f} s"
        bandwidth = f"{results['copy_bandwidth']['bandwidth_gb_s']:.2f}"
        processor = m["cpu_model"]
    return (
        measured
        + (" (**quick run: tiny sizes, few steps**)" if results["quick"] else "")
        + (
            f" (**unfinished: {len(results['groups'])} model x optimizer groups measured**)"
            if not results.get("complete", True)
            else ""
        )
        + f". Machine: {processor}, {m['usable_cores']} usable of {m['logical_cores']} "
        f"logical cores, {m['memory_gib']} GiB; device {results['device']}; Python "
        f"{m['python']}; {versions}. Load average (1, 5, 15 min) at start {load['start']}, "
        f"at end {load['end']}. Copy bandwidth {bandwidth} GB/s."
    )


def markdown_report(results: dict[str, Any]) -> str:
    """The Markdown summary of one run."""
    lines = [
        f"# What GC costs per training step: {results['backend']} on {results['device']}",
        "",
        provenance(results),
        "",
        "## Keras arms, each against its baseline",
        "",
        *overhead_table(results),
    ]
    if any(row["group"] != "keras" for row in results["comparisons"]):
        lines += ["", "## Peers, each against its own baseline", "", *overhead_table(results, None)]
    lines += ["", "## The GC pass alone against its floor", "", *pass_table(results), ""]
    lines += ["Models:", ""]
    settings = results["settings"]
    for key, spec in settings["models"].items():
        own = f"{spec['optimizer']}({spec['learning_rate']})"
        described = spec.get("optimizer_families", {"own": own})
        optimizers = ", ".join(described[f] for f in settings.get("optimizer_families", ["own"]))
        groups = [g for g in results.get("groups", []) if g["model"] == key]
        copies = {g["optimizer"]: g.get("copies") for g in groups}
        if len(set(copies.values())) > 1:  # pooled runs that measured some groups more often
            every = "; ".join(f"{n} copies of every arm with {o}" for o, n in copies.items())
        else:
            every = f"{spec.get('copies', settings.get('copies', 1))} copies of every arm"
        lines.append(
            f"- {spec['label']}: {'; '.join(spec['notes'])}; {optimizers}, loss {spec['loss']}; "
            f"{every}; {spec['warmup']} warm-up steps, "
            f"{spec['steps']} timed steps per copy in blocks of {spec['block']}."
        )
    lines.append("")
    return "\n".join(lines)


def readme_tables(paths: Iterable[Path]) -> str:
    """Every results file's tables, one section per backend, for ``benchmarks/README.md``."""
    lines: list[str] = []
    for path in sorted(paths):
        results = json.loads(path.read_text())
        lines += [
            f"### {results['backend']} on {results['device']} (`{path.as_posix()}`)",
            "",
            provenance(results),
            "",
            *overhead_table(results),
            "",
        ]
        if any(row["group"] != "keras" for row in results["comparisons"]):
            lines += ["Peers:", "", *overhead_table(results, None), ""]
        lines += ["The GC pass alone:", "", *pass_table(results), ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the README tables, or write them into a README between the markers."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gc_overhead.report")
    parser.add_argument("results", nargs="+", type=Path, help="results JSON files")
    parser.add_argument("--readme", type=Path, help="rewrite this file's results section")
    args = parser.parse_args(argv)
    tables = readme_tables(args.results)
    if args.readme is None:
        print(tables)
        return 0
    text = args.readme.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{args.readme} has no {BEGIN} ... {END} section")
    args.readme.write_text(pattern.sub(lambda _: f"{BEGIN}\n\n{tables}\n{END}", text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
