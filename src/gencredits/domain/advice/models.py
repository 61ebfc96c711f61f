"""The model advisor: which models suit a task, best fit first, then cheapest.

A *task* is a strength tag (``vector``, ``photoreal``, ``typography``...). Only active models
that list the tag are advised; when none of the requested kind lists it, every model of that
kind is returned by cost, each saying so. The sort key, documented once:

    (lacks the tag, [-speed if prefer_speed], credits per output, id)

*Credits per output* is the model's cheapest single output (shortest clip, cheapest quality or
option), priced through ``price_line`` so it carries the pricing's own rounding. The id ends
the key, so the order never depends on the order of the catalog's entries.

Each advice carries a reason comparing the model with the dearest active model of its kind,
the premium one people reach for by default: "recraft-v4 does vector; 4 credits per output, 8
less than flux-2-max".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gencredits.domain import limits
from gencredits.domain.advice._common import cheapest_line, check_whole
from gencredits.domain.catalog import Catalog, CatalogEntry, Kind
from gencredits.domain.errors import InvalidRequest
from gencredits.domain.pricing import price_line


@dataclass(frozen=True, slots=True)
class ModelAdvice:
    """One advised model, its place in the ranking and why."""

    rank: int
    model_id: str
    model_name: str
    kind: Kind
    credits_per_output: int
    speed: int
    fits_task: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "model": self.model_id,
            "model_name": self.model_name,
            "kind": self.kind.value,
            "credits_per_output": self.credits_per_output,
            "speed": self.speed,
            "fits_task": self.fits_task,
            "reason": self.reason,
        }


def credits_per_output(entry: CatalogEntry, catalog: Catalog) -> int:
    """The entry's cheapest single output in whole credits, priced by ``price_line``."""
    return price_line(cheapest_line(entry), catalog).request_credits


def known_tasks(catalog: Catalog) -> tuple[str, ...]:
    """Every strength tag some active model lists, sorted."""
    return tuple(sorted({tag for entry in catalog.active_entries() for tag in entry.strengths}))


def advise_models(
    catalog: Catalog,
    task: str,
    *,
    kind: Kind | None = None,
    max_credits_per_output: int | None = None,
    prefer_speed: bool = False,
) -> tuple[ModelAdvice, ...]:
    """Active models for ``task``, ranked by fit, then (optionally) speed, then cost, then id.

    Worked example, default catalog: ``advise_models(catalog, "vector")`` gives recraft-v4
    alone, "recraft-v4 does vector; 4 credits per output, 8 less than flux-2-max".
    ``advise_models(catalog, "photoreal", kind=Kind.IMAGE, max_credits_per_output=5)`` gives
    flux-2-flex (2), imagen-4 (4), flux-2-pro (5), each reason ending "2 models above 5 credits
    per output excluded" (imagen-4-ultra and flux-2-max).

    A tag no active model lists is refused naming ``task`` with the known tags; a budget below
    1 is refused naming ``max_credits_per_output``. Models above the budget are left out, and
    the result may then be empty.
    """
    tasks = known_tasks(catalog)
    if task not in tasks:
        raise InvalidRequest(
            f"no model lists the task {task!r} (known tasks: {', '.join(tasks)})", field="task"
        )
    if max_credits_per_output is not None:
        check_whole(
            max_credits_per_output, 1, limits.MAX_AMOUNT_CREDITS, field="max_credits_per_output"
        )
    of_kind = [e for e in catalog.active_entries() if kind is None or e.kind is kind]
    matching = [e for e in of_kind if task in e.strengths]
    candidates = matching or of_kind
    costs = {e.id: credits_per_output(e, catalog) for e in candidates}
    within = [
        e
        for e in candidates
        if max_credits_per_output is None or costs[e.id] <= max_credits_per_output
    ]
    within.sort(
        key=lambda e: (
            task not in e.strengths,
            -e.speed if prefer_speed else 0,
            costs[e.id],
            e.id,
        )
    )
    excluded = len(candidates) - len(within)
    references = _dearest_by_kind(catalog)
    return tuple(
        ModelAdvice(
            rank=rank,
            model_id=entry.id,
            model_name=entry.name,
            kind=entry.kind,
            credits_per_output=costs[entry.id],
            speed=entry.speed,
            fits_task=task in entry.strengths,
            reason=_reason(
                entry,
                task,
                costs[entry.id],
                references[entry.kind],
                prefer_speed=prefer_speed,
                excluded=excluded,
                budget=max_credits_per_output,
            ),
        )
        for rank, entry in enumerate(within, start=1)
    )


def _dearest_by_kind(catalog: Catalog) -> dict[Kind, tuple[str, int]]:
    """The dearest active model of each kind (id and credits per output); ties by id."""
    dearest: dict[Kind, tuple[str, int]] = {}
    for entry in catalog.active_entries():
        cost = credits_per_output(entry, catalog)
        best = dearest.get(entry.kind)
        if best is None or cost > best[1] or (cost == best[1] and entry.id < best[0]):
            dearest[entry.kind] = (entry.id, cost)
    return dearest


def _reason(
    entry: CatalogEntry,
    task: str,
    cost: int,
    reference: tuple[str, int],
    *,
    prefer_speed: bool,
    excluded: int,
    budget: int | None,
) -> str:
    if task in entry.strengths:
        text = f"{entry.id} does {task}; {cost} credits per output"
    else:
        text = f"no model lists {task}; {entry.id} costs {cost} credits per output"
    reference_id, reference_cost = reference
    if reference_id == entry.id:
        text += f", the dearest {entry.kind.value} model"
    elif cost < reference_cost:
        text += f", {reference_cost - cost} less than {reference_id}"
    else:
        text += f", as much as {reference_id}"
    if prefer_speed:
        text += f"; speed {entry.speed} of 5"
    if excluded and budget is not None:
        models = "model" if excluded == 1 else "models"
        text += f"; {excluded} {models} above {budget} credits per output excluded"
    return text
