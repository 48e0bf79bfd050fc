"""The README's code blocks run, and their shown output is the real output."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _blocks() -> List[Tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(README.read_text("utf-8"))]


def _python_blocks() -> List[Tuple[int, str, str]]:
    """Each python block with the text block right after it ('' if none)."""
    blocks = _blocks()
    found = []
    for i, (lang, body) in enumerate(blocks):
        if lang == "python":
            nxt = blocks[i + 1] if i + 1 < len(blocks) else ("", "")
            found.append((i, body, nxt[1] if nxt[0] == "text" else ""))
    return found


class _FakeBot:
    def __init__(self) -> None:
        self.applied: List[Dict[str, Any]] = []

    def recent_closed_trades(self) -> List[Any]:
        from quant_rollout import TradeOutcome

        return [TradeOutcome(1.0, 5.0, f"2026-05-01T00:{i:02d}:00Z") for i in range(60)]


@pytest.mark.parametrize(("index", "code", "expected"), _python_blocks())
def test_python_block_runs_and_prints_what_the_readme_shows(
    index: int,
    code: str,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # the example writes ~/.bot/...
    monkeypatch.chdir(tmp_path)
    alerts: List[str] = []
    bot = _FakeBot()
    namespace: Dict[str, Any] = {
        # The names the bot-loop example leaves to the reader's bot.
        "my_bot": bot,
        "apply_config": bot.applied.append,
        "send_alert": alerts.append,
        "__name__": f"readme_block_{index}",
    }
    exec(compile(code, f"README.md block {index}", "exec"), namespace)
    out = capsys.readouterr().out
    if expected:
        assert out == expected
    if "my_bot" in code:
        # 60 winning trades pass the canary gate: the window opens, one alert.
        assert alerts == ["Stage advance pending. Run `quant-rollout veto` to abort."]
        assert (tmp_path / ".bot" / "rollout_state.json").exists()


def _console_blocks() -> List[Tuple[bool, List[Tuple[str, str]]]]:
    """Each console block: whether its output varies, and its (command, output) pairs."""
    text = README.read_text("utf-8")
    blocks = []
    for m in FENCE.finditer(text):
        if m.group(1) != "console":
            continue
        varies = text[: m.start()].rstrip().endswith("<!-- output varies: times and counts -->")
        sessions: List[Tuple[str, str]] = []
        command, output = None, []  # type: Tuple[Any, List[str]]
        for line in m.group(2).splitlines():
            if line.startswith("$ "):
                if command is not None:
                    sessions.append((command, "\n".join(output)))
                command, output = line[2:], []
            else:
                output.append(line)
        if command is not None:
            sessions.append((command, "\n".join(output)))
        blocks.append((varies, sessions))
    return blocks


def _argv(command: str) -> List[str]:
    argv = shlex.split(command)
    if argv[0] == "python":
        argv[0] = sys.executable
    elif argv[0] == "quant-rollout":
        argv = [sys.executable, "-m", "quant_rollout", *argv[1:]]
    return argv


def _normalize(text: str, workdir: Path, varies: bool) -> str:
    text = text.replace(str(workdir), "~/quant-rollout")
    text = re.sub(r"/tmp/qr-demo-[A-Za-z0-9_]+", "/tmp/qr-demo-XXXXXXXX", text)
    tmp = re.escape(tempfile.gettempdir())
    text = re.sub(tmp + r"/qr-demo-[A-Za-z0-9_]+", "/tmp/qr-demo-XXXXXXXX", text)
    text = text.rstrip("\n")
    if varies:
        # Live output: the same lines and words, with other times and counts.
        text = re.sub(r"\(now\)", "(0s ago)", text)
        text = re.sub(r"(?m)^(\s+)now\b", r"\g<1>0s ago", text)
        text = re.sub(r"\d+", "#", text)
        # Relative times ("3s ago", "in 29m57s") shift where a table wraps: drop them.
        text = re.sub(r"(?<!\S)\(?(in )?(#[smhd])+( ago)?\)?(?!\S)", "", text)
        text = " ".join(text.split())  # and other wrapping
    return text


def test_console_blocks_run_in_order_and_print_what_the_readme_shows(tmp_path: Path) -> None:
    """Every console block, in README order, in one copy of the repository's examples."""
    workdir = tmp_path / "quant-rollout"
    shutil.copytree(ROOT / "examples", workdir / "examples")
    background: List[subprocess.Popen[str]] = []
    try:
        for varies, sessions in _console_blocks():
            for command, expected in sessions:
                if command.endswith(" &"):
                    # A bot in the background: read the lines the README shows, leave it.
                    proc = subprocess.Popen(
                        _argv(command[:-2]), cwd=workdir, stdout=subprocess.PIPE, text=True
                    )
                    background.append(proc)
                    assert proc.stdout is not None
                    got = [proc.stdout.readline() for _ in expected.splitlines()]
                    out = "".join(got)
                else:
                    result = subprocess.run(
                        _argv(command),
                        cwd=workdir,
                        capture_output=True,
                        text=True,
                        timeout=300,
                        check=False,
                    )
                    assert result.returncode == 0, (command, result.stderr)
                    out = result.stdout
                assert _normalize(out, workdir, varies) == _normalize(expected, workdir, varies), (
                    command
                )
    finally:
        for proc in background:
            proc.terminate()
            proc.wait(timeout=30)
            if proc.stdout is not None:
                proc.stdout.close()
    assert (workdir / "replay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_state_diagram_is_generated_from_the_transition_table() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_diagram.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def _quick_start_commands() -> List[str]:
    return [body.strip() for lang, body in _blocks() if lang == "bash"][:2]


def test_quick_start_test_command_is_what_ci_runs() -> None:
    _install_demo, test_command = _quick_start_commands()
    assert test_command in (ROOT / ".ci" / "run").read_text("utf-8")


@pytest.mark.slow
def test_quick_start_demo_command_works_on_a_fresh_copy(tmp_path: Path) -> None:
    """The first quick-start command, run for real in a fresh copy of the repository."""
    install_demo, _ = _quick_start_commands()
    copy = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(copy)], check=True, capture_output=True)
    for name in ("src", "examples", "pyproject.toml", "README.md"):  # uncommitted edits too
        subprocess.run(["cp", "-r", str(ROOT / name), str(copy)], check=True)
    result = subprocess.run(
        ["bash", "-c", install_demo.replace("python3", sys.executable, 1)],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "5. With the veto window off, a met gate advances at once." in result.stdout
