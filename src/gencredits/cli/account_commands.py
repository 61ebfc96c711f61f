"""``gencredits accounts ...``, ``plan`` and ``plans``: who holds credits, on which plan."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from gencredits.cli.inputs import AMOUNT_COMMAND, JsonOption, KeyOption, parse_credits, service
from gencredits.cli.output import console, emit
from gencredits.cli.views import account_table, when
from gencredits.documents.plans import plans_to_document
from gencredits.domain import limits
from gencredits.domain.credits import format_credits, plain_decimal
from gencredits.domain.errors import InvalidRequest
from gencredits.domain.ledger import AccountKind
from gencredits.domain.plans import PlanChange
from gencredits.domain.results import AccountView

AccountArgument = Annotated[str, typer.Argument(metavar="ACCOUNT", help="Account id.")]


def register(app: typer.Typer) -> None:
    accounts_app = typer.Typer(help="Accounts: open, show, list, members and project caps.")
    accounts_app.command("create")(create_account)
    accounts_app.command("show")(show_account)
    accounts_app.command("list")(list_accounts)
    accounts_app.command("members")(set_members)
    accounts_app.command("cap", context_settings=AMOUNT_COMMAND)(set_cap)
    app.add_typer(accounts_app, name="accounts")
    app.command("plan")(change_plan)
    app.command("plans")(list_plans)


def _show(as_json: bool, account: AccountView) -> None:
    emit(as_json, account.as_dict, lambda: console.print(account_table(account)))


def create_account(
    account_id: AccountArgument,
    name: Annotated[
        str | None, typer.Option("--name", help="Display name (default: the id).")
    ] = None,
    plan: Annotated[str | None, typer.Option("--plan", help="Plan id (default: free).")] = None,
    pool: Annotated[bool, typer.Option("--pool", help="A shared pool for a team.")] = False,
    members: Annotated[
        list[str] | None, typer.Option("--member", help="A member of the pool (repeatable).")
    ] = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Open an account on a plan; its first allowance is granted at once."""
    with service() as credits:
        account = credits.create_account(
            account_id,
            name=name or account_id,
            plan=plan,
            kind=AccountKind.POOL if pool or members else AccountKind.PERSON,
            members=tuple(members or ()),
            idempotency_key=key,
        )
    _show(as_json, account)


def show_account(account_id: AccountArgument, as_json: JsonOption = False) -> None:
    """Balance, available, held, plan and the current cycle (brought up to date first)."""
    with service() as credits:
        account = credits.account(account_id)
    _show(as_json, account)


def list_accounts(
    after: Annotated[
        str | None, typer.Option("--after", metavar="ID", help="Start after this account id.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", help=f"At most this many (1 to {limits.MAX_PAGE_SIZE}).")
    ] = limits.DEFAULT_PAGE_SIZE,
    as_json: JsonOption = False,
) -> None:
    """Accounts in id order; pass the last id as --after for the next page."""
    with service() as credits:
        page = credits.accounts(after=after, limit=limit)
    document: dict[str, Any] = {
        "accounts": [account.as_dict() for account in page],
        "next_cursor": page[-1].id if len(page) == limit else None,
    }

    def render() -> None:
        table = Table(title="Accounts", title_justify="left")
        for column in ("ID", "Name", "Plan"):
            table.add_column(column)
        for column in ("Balance", "Available", "Held"):
            table.add_column(column, justify="right")
        for account in page:
            table.add_row(
                escape(account.id),
                escape(account.name),
                account.plan_id,
                format_credits(account.balance_credits),
                format_credits(account.available_credits),
                format_credits(account.held_credits),
            )
        console.print(table)
        if document["next_cursor"]:
            console.print(f"more: --after {document['next_cursor']}", highlight=False)

    emit(as_json, lambda: document, render)


def set_members(
    account_id: AccountArgument,
    add: Annotated[
        list[str] | None, typer.Option("--add", help="Add a member (repeatable).")
    ] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", help="Remove a member (repeatable).")
    ] = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add or remove members of a shared pool."""
    with service() as credits:
        if not add and not remove:
            raise InvalidRequest("give --add or --remove members", field="members")
        account = credits.set_members(account_id, add=tuple(add or ()), remove=tuple(remove or ()),
                                      idempotency_key=key)
    _show(as_json, account)


def set_cap(
    account_id: AccountArgument,
    project: Annotated[str, typer.Argument(metavar="PROJECT", help="Project label.")],
    cap: Annotated[
        str | None, typer.Argument(metavar="CREDITS", help="Credits the project may spend a cycle.")
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove the project's cap.")] = False,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cap what a project may spend per billing cycle, or remove the cap."""
    with service() as credits:
        if (cap is None) == (not remove):
            raise InvalidRequest("give either a cap in credits or --remove", field="cap")
        cap_credits = None if cap is None else parse_credits(cap, field="cap")
        credits.set_project_cap(account_id, project, cap_credits, idempotency_key=key)
    document = {"account_id": account_id, "project": project, "cap": cap_credits}
    emit(
        as_json,
        lambda: document,
        lambda: console.print(
            f"{escape(account_id)} / {escape(project)}: "
            + (
                "no cap"
                if cap_credits is None
                else f"capped at {format_credits(cap_credits)} a cycle"
            ),
            highlight=False,
        ),
    )


def change_plan(
    account_id: AccountArgument,
    plan: Annotated[str, typer.Argument(metavar="PLAN", help="Plan id (see `gencredits plans`).")],
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change plan: upgrades at once, downgrades at the next renewal."""
    with service() as credits:
        result = credits.change_plan(account_id, plan, idempotency_key=key)

    def render() -> None:
        account = result.account
        says = {
            PlanChange.UPGRADE: f"{account.id} is on {account.plan_id} from now",
            PlanChange.DOWNGRADE: f"{account.id} moves to {account.pending_plan_id} at renewal, "
            f"{when(account.cycle_ends_at)}",
            PlanChange.CANCEL_DOWNGRADE: f"{account.id} stays on {account.plan_id}",
            PlanChange.UNCHANGED: f"{account.id} is already on {account.plan_id}",
        }[result.change]
        console.print(f"[bold]{result.change.value}[/bold]: {escape(says)}", highlight=False)
        console.print(account_table(account))

    emit(as_json, result.as_dict, render)


def list_plans(as_json: JsonOption = False) -> None:
    """The plans on offer: allowance, period and price."""
    with service() as credits:
        plans = credits.plans()

    def render() -> None:
        table = Table(title="Plans", title_justify="left")
        table.add_column("ID")
        table.add_column("Name")
        table.add_column("Allowance", justify="right")
        table.add_column("Period")
        table.add_column("Price", justify="right")
        for plan in plans:
            period = f"{plan.duration_days} days once" if plan.duration_days else plan.period.value
            price = "-" if plan.price is None else f"{plain_decimal(plan.price)} {plan.currency}"
            default = " (default)" if plan.id == plans.default_plan_id else ""
            table.add_row(
                plan.id + default,
                escape(plan.name),
                format_credits(plan.allowance_credits),
                period,
                price,
            )
        console.print(table)

    emit(as_json, lambda: plans_to_document(plans), render)
