"""``python -m bench`` (``make bench``): the operator benchmark on a fresh local control plane.

Prints a table of figures (each with the load average when it was taken) and writes
``bench/results/results.json``, ``burst.png``, ``latency.png``, ``memory.png`` and the py-spy profile.
The default phases take about 10 minutes on 2 cores; ``--sizes 20 --quick`` is the smoke run.
``--scale 10000,20000`` runs the scale phases instead (``bench/scale.py``: restarts at those sizes, RSS,
``--unrelated`` 100 KB Secrets next to them). ``--all`` (``make bench``) runs the three benchmarks one
after the other, each on a fresh control plane: the default phases (into OUT), the scale phases at 3,000,
10,000 and 20,000 with the unrelated Secrets (OUT/scale) and 2 shards against 1 (``bench.shards``,
OUT/shards.json); their tables, one after the other, are OUT/table.txt.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from . import shards
from .report import plots, table
from .run import BenchConfig, run
from .scale import run_scale

#: ``--all``: the sizes of its scale phases (3,000: the restart of ``tests/reliability/test_restart_at_scale.py``)
ALL_SCALE = (3000, 10000, 20000)


def parse(argv: list[str] | None = None) -> BenchConfig:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,5000", help="burst sizes, comma-separated (e.g. 1000,5000,10000)")
    parser.add_argument("--raw", type=int, default=5000, help="Secrets in the raw baseline")
    parser.add_argument("--concurrency", type=int, default=48, help="bench client requests in flight")
    parser.add_argument("--idle-window", type=float, default=180.0, help="seconds of idle cost measurement")
    parser.add_argument("--probes", type=int, default=100, help="latency probes per latency figure")
    parser.add_argument("--out", type=Path, default=BenchConfig.out)
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--quick", action="store_true", help="smoke settings: tiny windows, few probes, no profile/plots")
    parser.add_argument("--operator-arg", action="append", default=[], help="extra operator flag (repeatable)")
    parser.add_argument("--report", action="store_true", help="only print the table and redraw plots from OUT/results.json")
    parser.add_argument("--scale", default="", metavar="SIZES",
                        help="run the scale phases instead (bench/scale.py), e.g. 10000,20000")
    parser.add_argument("--unrelated", type=int, default=20000, help="with --scale: unrelated 100 KB Secrets (0: none)")
    parser.add_argument("--all", action="store_true",
                        help="the default phases, then --scale 3000,10000,20000, then bench.shards (make bench)")
    args = parser.parse_args(argv)
    if args.all and (args.scale or args.report or args.quick):
        parser.error("--all runs the scale phases itself; it does not combine with --scale, --report or --quick")
    config = BenchConfig(sizes=tuple(int(s) for s in args.sizes.split(",")), raw=args.raw, concurrency=args.concurrency,
                         idle_window=args.idle_window, probes=args.probes, out=args.out, plots=not args.no_plots,
                         profile=not args.no_profile, operator_args=tuple(args.operator_arg), report_only=args.report,
                         scale=tuple(int(s) for s in args.scale.split(",") if s), unrelated=args.unrelated,
                         everything=args.all)
    if config.scale:
        config.raw, config.plots = min(config.raw, 1000), False
    if args.quick:
        config.raw, config.idle_window, config.probes, config.rotation_samples = min(config.raw, 200), 5.0, 5, 1
        config.settle_cap, config.profile, config.plots, config.probe_rate = 20.0, False, False, 10.0
        config.probe_timeout = 60.0
    return config


def run_all(config: BenchConfig) -> int:
    """The three benchmarks one after the other (``--all``); OUT/table.txt holds their tables."""
    tables = []
    results = run(config)
    tables.append("## default phases (" + str(config.out / "results.json") + ")\n" + table(results))
    if config.plots:
        for path in plots(results, config.out):
            print(f"plot: {path}")
    scale_config = replace(config, out=config.out / "scale", scale=ALL_SCALE, raw=min(config.raw, 1000), plots=False)
    scale_results = run_scale(scale_config, scale_config.scale, scale_config.unrelated)
    tables.append("## scale phases (" + str(scale_config.out / "results.json") + ")\n" + table(scale_results))
    shard_results = shards.main(["--out", str(config.out / "shards.json")])
    tables.append("## 2 shards against 1 (" + str(config.out / "shards.json") + ")\n" + shards.table(shard_results))
    text = "\n\n".join(tables)
    print()
    print(text)
    (config.out / "table.txt").write_text(text + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    config = parse(argv)
    if config.everything:
        return run_all(config)
    if config.report_only:
        results = json.loads((config.out / "results.json").read_text())
    elif config.scale:
        results = run_scale(config, config.scale, config.unrelated)
    else:
        results = run(config)
    print()
    print(table(results))
    (config.out / "table.txt").write_text(table(results) + "\n")
    if config.plots:
        for path in plots(results, config.out):
            print(f"plot: {path}")
    print(f"results: {config.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
