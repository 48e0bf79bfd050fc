"""``import quant_rollout`` loads the engine only: the planner, matplotlib and tomli
wait until they are used, and the package imports with the optional extras absent.

Each check runs in a fresh interpreter, since this test process has long since
imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

LAZY_MODULES = ("quant_rollout.planning", "matplotlib", "tomli", "tomllib", "apprise")


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_quant_rollout_loads_neither_the_planner_nor_the_extras() -> None:
    out = _python(
        f"""
        import json, sys
        import quant_rollout
        print(json.dumps([m for m in {LAZY_MODULES!r} if m in sys.modules]))
        """
    )
    assert json.loads(out) == []


def test_the_planner_names_load_on_first_use() -> None:
    out = _python(
        """
        import json, sys
        import quant_rollout
        from quant_rollout import plan, Payoff
        import quant_rollout.planning as planning
        from quant_rollout.tools import plan_file
        print(json.dumps([
            "quant_rollout.planning" in sys.modules,
            # plan reads a path, then calls the planner (which takes configurations)
            plan is plan_file.plan and Payoff is planning.Payoff,
            quant_rollout.format_plan is planning.format_plan,
            quant_rollout.PlanReport is planning.PlanReport,
            all(name in dir(quant_rollout) for name in quant_rollout.__all__),
        ]))
        """
    )
    assert json.loads(out) == [True] * 5


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    import quant_rollout

    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        _ = quant_rollout.no_such_name


def test_the_package_imports_with_the_optional_extras_blocked() -> None:
    # None in sys.modules makes any import of that name raise ImportError.
    out = _python(
        """
        import sys
        for name in ("matplotlib", "tomli", "scipy"):
            sys.modules[name] = None
        import quant_rollout
        from quant_rollout import Rollout, Gate, Stage, KillSwitch, plan
        import quant_rollout.core
        print("ok")
        """
    )
    assert out.strip() == "ok"
