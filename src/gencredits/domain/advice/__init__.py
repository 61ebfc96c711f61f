"""Advice: helping creators spend credits well and operators price them well (SPEC section 3).

Every function here is pure: catalog, plans and usage figures come in as values, time as an
argument, and each answer is a frozen dataclass with an ``as_dict()`` that is JSON-safe
(decimals as strings, datetimes in ISO 8601). Every price comes from
``gencredits.domain.pricing`` and every rounding of credits from ``gencredits.domain.credits``.

* :func:`estimate` (``estimator``): a project's subtotal, a buffer rounded up, the total,
  the shortfall against available credits, cycles of allowance, and cheaper alternatives.
* :func:`plan_drafts` (``drafts``): N drafts on a budget model + M finals on a premium model,
  against all on the premium model.
* :func:`advise_models` (``models``): models for a task tag, ranked by fit, then cost.
* :func:`advise_plan` (``plan_advice``): upgrade, downgrade or stay, from the last cycles.
* :func:`forecast` (``forecasting``): when credits run out, or how many will expire.
* :func:`credit_value` and :func:`margins` (``operator_margins``): the operator's margin on
  every model at a credit's money value.
"""

from __future__ import annotations

from gencredits.domain.advice.drafts import DraftPlan, plan_drafts
from gencredits.domain.advice.estimator import (
    DEFAULT_BUFFER_PERCENT,
    Alternative,
    Estimate,
    PlanFit,
    estimate,
)
from gencredits.domain.advice.forecasting import Forecast, forecast
from gencredits.domain.advice.models import ModelAdvice, advise_models, known_tasks
from gencredits.domain.advice.operator_margins import (
    DEFAULT_TARGET_MARGIN_PERCENT,
    ModelMargin,
    credit_value,
    margins,
)
from gencredits.domain.advice.plan_advice import (
    CycleFigures,
    CycleUsage,
    PlanAction,
    PlanAdvice,
    advise_plan,
)

__all__ = [
    "DEFAULT_BUFFER_PERCENT",
    "DEFAULT_TARGET_MARGIN_PERCENT",
    "Alternative",
    "CycleFigures",
    "CycleUsage",
    "DraftPlan",
    "Estimate",
    "Forecast",
    "ModelAdvice",
    "ModelMargin",
    "PlanAction",
    "PlanAdvice",
    "PlanFit",
    "advise_models",
    "advise_plan",
    "credit_value",
    "estimate",
    "forecast",
    "known_tasks",
    "margins",
    "plan_drafts",
]
