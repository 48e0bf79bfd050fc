"""How long ``import quant_rollout`` takes, and what it loads. Figures, not pass/fail.

    python benchmarks/bench_import.py                  # 21 fresh interpreters
    python benchmarks/bench_import.py --runs 5         # quicker
    python benchmarks/bench_import.py --src OTHER/src  # another checkout, e.g. before a change

Each run starts a fresh interpreter with ``python -X importtime -c 'import quant_rollout'``
and reads the cumulative microseconds of the ``quant_rollout`` line (the package and
everything it imported that was not already loaded by the interpreter's start-up), and
separately the wall and CPU time (user + system; Unix only) of ``python -c 'import
quant_rollout'`` against ``python -c 'pass'``. Reports medians and the spread (min,
max) as a markdown table. A separate run lists the modules the import loaded (those of
the package, and whether the planner, matplotlib or tomli are among them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

_HEAVY = ("quant_rollout.planning", "matplotlib", "tomli", "tomllib")


def _env(src: Optional[str]) -> Dict[str, str]:
    env = dict(os.environ)
    if src is not None:
        # Ahead of the installed package (an editable install's path comes later).
        env["PYTHONPATH"] = os.pathsep.join([str(Path(src).resolve()), env.get("PYTHONPATH", "")])
    return env


def _importtime_us(env: Dict[str, str]) -> int:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import quant_rollout"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    for line in reversed(done.stderr.splitlines()):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == "quant_rollout":
            return int(parts[1])
    raise RuntimeError(f"no quant_rollout line in -X importtime output:\n{done.stderr[-500:]}")


def _wall_and_cpu_s(code: str, env: Dict[str, str]) -> Tuple[float, float]:
    """Wall time and CPU time (user + system) of one fresh interpreter running ``code``.

    CPU time is the steadier figure on a busy machine: waiting for a core is not in it.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _loaded(env: Dict[str, str]) -> List[str]:
    code = "import json, sys; import quant_rollout; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    names: List[str] = json.loads(done.stdout)
    return names


def _row(source: str, label: str, seconds: Sequence[float]) -> str:
    med = statistics.median(seconds) * 1e3
    low, high = min(seconds) * 1e3, max(seconds) * 1e3
    return f"| {source} | {label} | {med:.1f} ms | {low:.1f} – {high:.1f} ms |"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="fresh interpreters per figure")
    parser.add_argument(
        "--src",
        action="append",
        help="import quant_rollout from this src folder (repeat to compare; runs interleave)",
    )
    args = parser.parse_args(argv)
    sources: List[Optional[str]] = list(args.src) if args.src else [None]
    envs = [_env(src) for src in sources]
    importtime: List[List[float]] = [[] for _ in sources]
    wall: List[List[float]] = [[] for _ in sources]
    cpu: List[List[float]] = [[] for _ in sources]
    bare_wall: List[float] = []
    bare_cpu: List[float] = []
    # Interleaved, so a change in the machine's load falls on every source alike.
    for _ in range(args.runs):
        w, c = _wall_and_cpu_s("pass", envs[0])
        bare_wall.append(w)
        bare_cpu.append(c)
        for i, env in enumerate(envs):
            importtime[i].append(_importtime_us(env) / 1e6)
            w, c = _wall_and_cpu_s("import quant_rollout", env)
            wall[i].append(w)
            cpu[i].append(c)
    print(f"CPython {platform.python_version()}, {args.runs} interleaved runs each")
    print()
    print("| source | measure | median | min – max |")
    print("|---|---|---|---|")
    for i, src in enumerate(sources):
        label = src or "(installed)"
        print(_row(label, "`-X importtime`, cumulative `quant_rollout`", importtime[i]))
        print(_row(label, "wall, `python -c 'import quant_rollout'`", wall[i]))
        print(_row(label, "CPU, `python -c 'import quant_rollout'`", cpu[i]))
    print(_row("", "wall, `python -c 'pass'`", bare_wall))
    print(_row("", "CPU, `python -c 'pass'`", bare_cpu))
    print()
    for src, env in zip(sources, envs):
        loaded = _loaded(env)
        ours = [m for m in loaded if m == "quant_rollout" or m.startswith("quant_rollout.")]
        heavy = [m for m in _HEAVY if m in loaded]
        print(
            f"{src or '(installed)'}: {len(ours)} modules of the package loaded; "
            f"planner / matplotlib / tomli: {', '.join(heavy) if heavy else 'none'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
