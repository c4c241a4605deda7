"""Wall time of one ``train.py`` command in this checkout and in another, back to back.

Issue 16's budget: ``python train.py model=transformer data=tcga_brca_paired`` (defaults,
attributions included) may take at most 1.5x the time of the code it replaced. Both
checkouts run the same command with this interpreter (the same installed libraries), each
with its own ``src`` first on ``PYTHONPATH``, alternating ``--repeats`` times; the script
prints every run, the medians and their ratio.

    git worktree add /tmp/landed <commit>
    python benchmarks/train_wall_time.py --other /tmp/landed
    python benchmarks/train_wall_time.py --other /tmp/landed --repeats 3 -- model=mlp data=tcga_brca_paired
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ["model=transformer", "data=tcga_brca_paired"]
QUIET = ["logger=none", "~callbacks.rich_progress_bar", "trainer.enable_progress_bar=false"]


def timed_run(checkout: Path, overrides: list[str], data_dir: Path) -> float:
    """Seconds of one ``train.py`` run in ``checkout`` (its output in a throw-away directory)."""
    env = {**os.environ, "PYTHONPATH": str(checkout / "src"), "GENEXAI_DATA_DIR": str(data_dir)}
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run([sys.executable, "train.py", *overrides, *QUIET, f"hydra.run.dir={out}"],
                       cwd=checkout, env=env, check=True, capture_output=True)  # fmt: skip
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--other", type=Path, required=True, help="the other checkout (e.g. a git worktree)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("GENEXAI_DATA_DIR", ROOT.parent / "shared" / "data")))
    parser.add_argument("overrides", nargs="*", default=DEFAULT)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"this": [], "other": []}
    for repeat in range(args.repeats):
        for name, checkout in (("other", args.other.resolve()), ("this", ROOT)):
            seconds = timed_run(checkout, args.overrides, args.data_dir.resolve())
            times[name].append(seconds)
            print(f"run {repeat + 1} {name} ({checkout}): {seconds:.1f} s", flush=True)
    this, other = statistics.median(times["this"]), statistics.median(times["other"])
    print(f"median: this {this:.1f} s, other {other:.1f} s, ratio {this / other:.2f}")


if __name__ == "__main__":
    main()
