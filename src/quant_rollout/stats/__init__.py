"""The statistics behind the gates and the kill switch: pure functions and small classes.

Everything here is exact arithmetic on the trades it is given: no I/O, no clock, and
no randomness except through a ``random.Random`` the caller passes in. Each piece
cites the paper it implements.

* ``beta``: :func:`betainc`, :func:`log_beta`: the regularized incomplete beta
  function, stdlib only (DiDonato & Morris 1992).
* ``win_rate``: :func:`win_rate_e_value` and friends: an anytime-valid test that the win
  rate is above a bar (Robbins 1970; Howard, Ramdas, McAuliffe & Sekhon 2021).
* ``betting``: :class:`EVBettingTest`: an anytime-valid test that the expected pnl per
  dollar is above a bar, valid for any tails of the gains (Waudby-Smith & Ramdas 2024).
* ``cusum``: :class:`BernoulliCusum`, :func:`cusum_arl`, :func:`cusum_alarm_probability`,
  :func:`cusum_threshold`: a CUSUM on wins and losses whose run-length numbers are exact
  (Page 1954; Brook & Evans 1972; Reynolds & Stoumbos 1999).
* ``ev_cusum``: :class:`EvCusum`, :func:`ev_cusum_threshold`: a CUSUM on returns per
  dollar with a bootstrapped threshold.
* ``two_sample``: :class:`DifferenceTest` and its win-rate, EV-per-dollar and
  PnL-per-opportunity forms: anytime-valid comparisons of a candidate arm with control
  (Shekhar & Ramdas 2023; Waudby-Smith & Ramdas 2024).
* ``srm``: :class:`SampleRatioTest`, :func:`srm_e_value`: the sample-ratio-mismatch
  alarm on routed counts (Lindon & Malek 2022).

This package re-exports every public name of its modules.

"Anytime-valid" means the guarantee holds however often the test is looked at and
whenever the rollout stops: the probability that a test *ever* rejects a true null,
over an unbounded number of trades, is at most ``1 - confidence`` (Ville's inequality
applied to a nonnegative supermartingale with initial value 1). A test may therefore be
checked after every trade. Each test latches: once it has rejected, it stays rejected.

Units: win rates and bars are fractions 0–1 (0.55 means 55%); returns are pnl divided by
size, "dollars per dollar" (0.04 means 4 cents per dollar risked); ``confidence`` is a
fraction (0.95), and the level is ``alpha = 1 - confidence``.
"""

from __future__ import annotations

from .beta import betainc, betaincc, log_beta, log_betainc, log_betaincc
from .betting import EVBettingTest
from .cusum import (
    BernoulliCusum,
    CusumScores,
    bernoulli_cusum_scores,
    cusum_alarm_probability,
    cusum_arl,
    cusum_threshold,
)
from .ev_cusum import EvCusum, EvCusumThreshold, ev_cusum_threshold
from .srm import (
    DEFAULT_SRM_CONCENTRATION,
    DEFAULT_SRM_CONFIDENCE,
    SampleRatioTest,
    srm_e_value,
    srm_log_e_value,
)
from .two_sample import (
    DEFAULT_DIFFERENCE_GRID_POINTS,
    DEFAULT_MAX_UNPAIRED,
    DifferenceTest,
    EvPerDollarDifferenceTest,
    PnlPerOpportunityDifferenceTest,
    WinRateDifferenceTest,
    difference_confidence_sequence,
)
from .win_rate import (
    DEFAULT_PRIOR_CONCENTRATION,
    DEFAULT_PRIOR_EFFECT,
    BetaPrior,
    win_rate_e_value,
    win_rate_log_e_value,
    win_rate_lower_bound,
    win_rate_rejection_boundary,
    win_rate_rejection_cdf,
    win_rate_upper_bound,
    win_rate_upper_e_value,
    win_rate_upper_log_e_value,
    win_rate_upper_rejection_boundary,
)

__all__ = [
    "DEFAULT_DIFFERENCE_GRID_POINTS",
    "DEFAULT_MAX_UNPAIRED",
    "DEFAULT_PRIOR_CONCENTRATION",
    "DEFAULT_PRIOR_EFFECT",
    "DEFAULT_SRM_CONCENTRATION",
    "DEFAULT_SRM_CONFIDENCE",
    "BernoulliCusum",
    "BetaPrior",
    "CusumScores",
    "DifferenceTest",
    "EVBettingTest",
    "EvCusum",
    "EvCusumThreshold",
    "EvPerDollarDifferenceTest",
    "PnlPerOpportunityDifferenceTest",
    "SampleRatioTest",
    "WinRateDifferenceTest",
    "bernoulli_cusum_scores",
    "betainc",
    "betaincc",
    "cusum_alarm_probability",
    "cusum_arl",
    "cusum_threshold",
    "difference_confidence_sequence",
    "ev_cusum_threshold",
    "log_beta",
    "log_betainc",
    "log_betaincc",
    "srm_e_value",
    "srm_log_e_value",
    "win_rate_e_value",
    "win_rate_log_e_value",
    "win_rate_lower_bound",
    "win_rate_rejection_boundary",
    "win_rate_rejection_cdf",
    "win_rate_upper_bound",
    "win_rate_upper_e_value",
    "win_rate_upper_log_e_value",
    "win_rate_upper_rejection_boundary",
]
