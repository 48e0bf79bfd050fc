"""Refresh the README's "Why confidence gates" plans and the side-by-side table under them.

Run:  python scripts/gen_plan_readme.py          (re-runs the section's `quant-rollout plan`
                                                  commands and rewrites their output and
                                                  the table in README.md)
      python scripts/gen_plan_readme.py --check  (exit 1 if the table does not hold the
                                                  figures of the outputs shown above it)

The commands run as tests/test_readme.py runs them: in a copy of examples/, with
``quant-rollout`` as ``python -m quant_rollout``. That test checks the outputs; the
check here keeps the table true to them. Run it after changing either configuration
(examples/seed_0.1.toml, examples/rollout.toml) or the planner.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Tuple

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLES = README.parent / "examples"
SECTION = "## Why confidence gates"
TABLE_HEAD = "| | 0.1 example | recommended |\n|:--|--:|--:|\n"

# (row label, which table of the plan, true win rate, column: 1 = P, 2 = median trades)
ROWS: Tuple[Tuple[str, str, float, int], ...] = (
    ("the canary gate passes a 55% strategy (its bar: 60%)", "canary gate", 0.55, 1),
    ("the canary gate passes a strategy exactly at its bar, 60%", "canary gate", 0.60, 1),
    ("trades for the canary gate to pass a 65% strategy (median)", "canary gate", 0.65, 2),
    (
        "the kill switch kills a 65% strategy within 2,000 trades of the canary stage",
        "canary kill",
        0.65,
        1,
    ),
    ("the same for a 55% strategy, which makes +0.10 a dollar", "canary kill", 0.55, 1),
    ("the same for a break-even strategy, 50%", "canary kill", 0.50, 1),
    ("trades to catch a drop to 45% at the canary stage (median)", "canary kill", 0.45, 2),
)


def _section(text: str) -> Tuple[int, int]:
    start = text.index(SECTION)
    return start, text.index("\n## ", start + len(SECTION))


def plans(text: str) -> List[str]:
    """The outputs of the section's plan commands, in order."""
    start, end = _section(text)
    section = text[start:end]
    block = section[section.index("```console\n") + len("```console\n") :]
    block = block[: block.index("```")]
    return ["\n".join(o.splitlines()[1:]) for o in block.split("$ quant-rollout plan ")[1:]]


def cell(output: str, table: str, level: float, column: int) -> str:
    """One figure of a plan's text output, without its standard error."""
    lines = output.splitlines()
    if table == "canary gate":
        title = next(i for i, t in enumerate(lines) if t.startswith("gate 0 (baseline) -> 1 "))
    else:
        title = next(
            i
            for i, t in enumerate(lines)
            if t.startswith("kill switch at") and ("every stage" in t or "1 (canary)" in t)
        )
    # A kill table's money columns (EV/$, and money when it fits) come after the level.
    header = next(t for t in lines[title + 1 :] if t.startswith("  win rate"))
    if table != "canary gate":
        column += ("    EV/$" in header) + (" money " in header)
    for line in lines[title + 1 :]:
        if not line.startswith("  "):
            break
        cells = re.split(r"\s{2,}", line.strip())
        if cells[0].split()[0] == f"{level:.2f}":
            return cells[column].split(" ±")[0]
    raise LookupError(f"no {level:.2f} row in the {table} table")


def table_rows(text: str) -> List[str]:
    """The side-by-side table's rows as they must read for the outputs in ``text``."""
    seed, recommended = plans(text)
    return [
        f"| {label} | {cell(seed, t, level, c)} | {cell(recommended, t, level, c)} |"
        for label, t, level, c in ROWS
    ]


def shown_rows(text: str) -> List[str]:
    start = text.index(TABLE_HEAD) + len(TABLE_HEAD)
    return text[start:].split("\n\n")[0].splitlines()


def _run(command: str, workdir: Path) -> str:
    argv = shlex.split(command)
    if argv[0] == "quant-rollout":
        argv = [sys.executable, "-m", "quant_rollout", *argv[1:]]
    result = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, check=True)
    return result.stdout.rstrip("\n")


def refresh(text: str) -> str:
    """``text`` with the section's command outputs re-run and the table rebuilt."""
    start, end = _section(text)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / "quant-rollout"
        shutil.copytree(EXAMPLES, workdir / "examples")

        def rerun(match: re.Match[str]) -> str:
            out = []
            for line in match.group(1).splitlines():
                if line.startswith("$ "):
                    out += [line, _run(line[2:], workdir)]
            return "```console\n" + "\n".join(out) + "\n```"

        section = re.sub(r"```console\n(.*?)```", rerun, text[start:end], flags=re.S)
    text = text[:start] + section + text[end:]
    first = text.index(TABLE_HEAD) + len(TABLE_HEAD)
    last = text.index("\n\n", first)
    return text[:first] + "\n".join(table_rows(text)) + text[last:]


def main(argv: List[str]) -> int:
    text = README.read_text("utf-8")
    if argv == ["--check"]:
        if shown_rows(text) != table_rows(text):
            print("README.md: the plan table is out of date; run python scripts/gen_plan_readme.py")
            return 1
        return 0
    README.write_text(refresh(text), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
