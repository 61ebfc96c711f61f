"""The draft -> final planner: explore on a budget model, finish on a premium one.

N drafts on a cheap model plus M finals on a premium model, against all N + M on the premium
model. Each side is a quote of single-output requests (``count`` = drafts or finals), priced by
the one pricing function; the percentage saved is for people and has one decimal place, halves
up. The reference product says 60-70% is typical.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from gencredits.domain import limits
from gencredits.domain.advice._common import check_whole, percent_one_place
from gencredits.domain.catalog import Catalog
from gencredits.domain.credits import plain_decimal
from gencredits.domain.pricing import LineItem, QuoteRequest, quote


@dataclass(frozen=True, slots=True)
class DraftPlan:
    """Credits of drafting then finishing, against finishing everything on the final model."""

    draft_model_id: str
    final_model_id: str
    drafts: int
    finals: int
    draft_credits: int
    final_credits: int
    all_final_credits: int
    price_version: int

    @property
    def planned_credits(self) -> int:
        return self.draft_credits + self.final_credits

    @property
    def saved_credits(self) -> int:
        """Negative when the draft model is dearer than the final one."""
        return self.all_final_credits - self.planned_credits

    @property
    def saved_percent(self) -> Decimal:
        return percent_one_place(self.saved_credits, self.all_final_credits)

    def as_dict(self) -> dict[str, Any]:
        return {
            "draft_model": self.draft_model_id,
            "final_model": self.final_model_id,
            "drafts": self.drafts,
            "finals": self.finals,
            "draft_credits": self.draft_credits,
            "final_credits": self.final_credits,
            "planned": self.planned_credits,
            "all_final": self.all_final_credits,
            "saved": self.saved_credits,
            "saved_percent": plain_decimal(self.saved_percent),
            "price_version": self.price_version,
        }


def plan_drafts(
    catalog: Catalog,
    *,
    draft_model: str,
    drafts: int,
    final_model: str,
    finals: int,
    issued_at: datetime,
) -> DraftPlan:
    """Compare drafting on ``draft_model`` and finishing on ``final_model`` with all-final.

    Worked example: 20 drafts on nano-banana-2 (1 credit) + 5 finals on flux-2-max (12) cost
    20 + 60 = 80; all 25 on flux-2-max cost 25 x 12 = 300; saved 220 credits, 73.3%.

    ``drafts`` may be 0 (nothing saved); ``finals`` is at least 1; each at most
    ``limits.MAX_COUNT_PER_LINE``. Errors name ``draft_model``, ``drafts``, ``final_model`` or
    ``finals``.
    """
    catalog.get_active(draft_model, field="draft_model")
    catalog.get_active(final_model, field="final_model")
    check_whole(drafts, 0, limits.MAX_COUNT_PER_LINE, field="drafts")
    check_whole(finals, 1, limits.MAX_COUNT_PER_LINE, field="finals")
    final_credits = _credits(catalog, final_model, finals, issued_at)
    return DraftPlan(
        draft_model_id=draft_model,
        final_model_id=final_model,
        drafts=drafts,
        finals=finals,
        draft_credits=_credits(catalog, draft_model, drafts, issued_at),
        final_credits=final_credits,
        # ``count`` multiplies without discount, so N + M finals are the drafts' count and the
        # finals' count priced on the final model; two lines keep each within the count limit.
        all_final_credits=final_credits + _credits(catalog, final_model, drafts, issued_at),
        price_version=catalog.version,
    )


def _credits(catalog: Catalog, model_id: str, count: int, issued_at: datetime) -> int:
    if count == 0:
        return 0
    request = QuoteRequest(lines=(LineItem(model_id, count=count),))
    return quote(request, catalog, issued_at=issued_at).total_credits
