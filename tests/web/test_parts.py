"""The dashboard's pieces without a browser: session cookies, CSRF tokens, chart geometry,
form parsing, friendly error messages, and the package data the pages load."""

from __future__ import annotations

import time
from decimal import Decimal
from importlib import resources

import pytest

from gencredits.documents.catalog import load_catalog_file
from gencredits.domain import errors
from gencredits.domain.catalog import Catalog, CatalogEntry, FlatRule, Kind, PerSecondRule, Tier
from gencredits.web import is_dashboard_path
from gencredits.web.charts import MAX_SERIES, OTHER, bar_chart, nice_step
from gencredits.web.core import friendly
from gencredits.web.forms import Form, choices_of, defaults_of, line_item, whole
from gencredits.web.sessions import SESSION_LIFETIME_SECONDS, SessionSigner


@pytest.fixture
def signer() -> SessionSigner:
    return SessionSigner(b"0123456789abcdef0123456789abcdef")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    loaded = load_catalog_file(None)
    return Catalog(1, loaded.entries)


# --- sessions ------------------------------------------------------------------------------


def test_a_session_cookie_round_trips_and_never_holds_a_key(signer: SessionSigner) -> None:
    session = signer.new("key_abc")
    cookie = signer.dump(session)
    assert "gc_" not in cookie
    assert signer.load(cookie) == session


def test_a_tampered_or_foreign_cookie_is_refused(signer: SessionSigner) -> None:
    cookie = signer.dump(signer.new("key_abc"))
    nonce, _key_id, issued, signature = cookie.split(".")
    assert signer.load(f"{nonce}.key_operator.{issued}.{signature}") is None
    assert signer.load(cookie[:-2] + "xx") is None
    assert signer.load("garbage") is None
    assert signer.load("") is None
    other = SessionSigner(b"another-secret-of-32-bytes-long!")
    assert other.load(cookie) is None


def test_an_old_cookie_is_refused(signer: SessionSigner) -> None:
    session = signer.new("key_abc")
    old = type(session)(session.nonce, session.key_id,
                        int(time.time()) - SESSION_LIFETIME_SECONDS - 1)
    assert signer.load(signer.dump(old)) is None


def test_signing_out_forgets_the_session(signer: SessionSigner) -> None:
    session = signer.new("key_abc")
    cookie = signer.dump(session)
    signer.sign_out(session)
    assert signer.load(cookie) is None


def test_csrf_tokens_are_bound_to_their_session(signer: SessionSigner) -> None:
    first, second = signer.new("key_abc"), signer.new("key_abc")
    token = signer.csrf_token(first)
    assert signer.check_csrf(first, token)
    assert not signer.check_csrf(second, token)
    assert not signer.check_csrf(first, None)
    assert not signer.check_csrf(first, "")


def test_a_short_secret_from_the_environment_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GENCREDITS_SESSION_SECRET", "short")
    first, second = SessionSigner.from_environment(), SessionSigner.from_environment()
    session = first.new("key_abc")
    assert second.load(first.dump(session)) is None  # random secrets, not "short"
    monkeypatch.setenv("GENCREDITS_SESSION_SECRET", "a-shared-secret-for-all-workers")
    first, second = SessionSigner.from_environment(), SessionSigner.from_environment()
    assert second.load(first.dump(session)) == session


# --- charts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("maximum", "step"), [(0, 1), (3, 1), (7, 2), (40, 10), (75, 20), (369, 100), (1_000, 500)]
)
def test_tick_steps_are_round(maximum: int, step: int) -> None:
    assert nice_step(maximum) == step


def test_bars_stack_their_series_bottom_up() -> None:
    chart = bar_chart("c", "Credits", [("Mar 1", {"a": 30, "b": 10}), ("Mar 2", {})])
    first, second = chart.bars
    assert [s.series for s in first.segments] == ["a", "b"]
    bottom = first.segments[0]
    top = first.segments[1]
    assert bottom.y + bottom.height == pytest.approx(chart.plot_bottom, abs=0.02)
    assert top.y + top.height == pytest.approx(bottom.y, abs=0.02)
    assert bottom.height == pytest.approx(3 * top.height, abs=0.05)
    assert second.segments == ()
    assert chart.total_credits == 40
    assert "Mar 1: a, 30 credits" in bottom.title
    assert [t.label for t in chart.ticks] == ["0", "10", "20", "30", "40"]


def test_many_series_fold_into_other() -> None:
    parts = {f"model-{i}": 10 + i for i in range(MAX_SERIES + 3)}
    chart = bar_chart("c", "Credits", [("day", parts)])
    names = [item.series for item in chart.legend]
    assert len(names) == MAX_SERIES and names[-1] == OTHER
    assert sum(item.credits for item in chart.legend) == sum(parts.values())


def test_an_empty_chart_says_so() -> None:
    chart = bar_chart("c", "Credits", [("a", {}), ("b", {"x": 0})])
    assert chart.empty
    assert chart.description == "No credits used in this period."


# --- forms and messages --------------------------------------------------------------------


def test_a_line_keeps_only_the_choices_its_model_takes(catalog: Catalog) -> None:
    flat = line_item(catalog, model="flux-2-pro", outputs="4", seconds="8", quality="1080p",
                     option="large")
    assert (flat.outputs, flat.seconds, flat.quality, flat.option) == (4, None, None, None)
    video = line_item(catalog, model="veo-3", seconds="8", quality="1080p", option="large")
    assert (video.seconds, video.quality, video.option) == (8, "1080p", None)
    expand = line_item(catalog, model="ai-expand", option="large", count="3")
    assert (expand.option, expand.count) == ("large", 3)


def test_bad_numbers_name_their_field(catalog: Catalog) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        line_item(catalog, model="flux-2-pro", count="lots", field_prefix="lines.1.")
    assert caught.value.field == "lines.1.count"
    assert friendly(caught.value).message == "Line 2: Requests: enter a whole number, not 'lots'."
    with pytest.raises(errors.OutOfRange):
        whole("0", field="outputs", minimum=1, maximum=4)
    assert whole("1,250", field="amount", minimum=1, maximum=2_000) == 1_250
    with pytest.raises(errors.InvalidRequest) as missing:
        line_item(catalog, model="")
    assert friendly(missing.value).message == "Model: choose a model."


def test_friendly_messages_name_the_field() -> None:
    assert friendly(errors.OutOfRange(9, 1, 4, field="outputs")).message == (
        "Outputs must be between 1 and 4, got 9."
    )
    assert friendly(errors.UnknownModel("nope")).message == "Model: unknown model 'nope'."
    short = friendly(errors.InsufficientCredits(available=10, required=18))
    assert short.message.startswith("Not enough credits: this needs 18 and 10 are available")
    assert friendly(errors.NotFound("account", "zed", field="account_id")).message == (
        "Account: no account 'zed'."
    )


def test_a_form_keeps_repeated_fields_in_order() -> None:
    form = Form.of([("model", "a"), ("model", " b "), ("count", "")])
    assert form.all("model") == ("a", "b")
    assert form.get("count") == "" and form.optional("count") is None
    assert form.get("missing", "x") == "x"


def test_dashboard_paths() -> None:
    assert is_dashboard_path("/") and is_dashboard_path("/app/history")
    assert is_dashboard_path("/signin") and is_dashboard_path("/app")
    assert not is_dashboard_path("/v1/catalog") and not is_dashboard_path("/application")


def test_templates_and_static_files_ship_in_the_package() -> None:
    package = resources.files("gencredits.web")
    for name in ("base.html", "generate.html", "balance.html", "estimate.html", "history.html",
                 "advice.html", "operator_catalog.html", "operator_accounts.html",
                 "signin.html", "error.html", "macros.html"):
        assert (package / "templates" / name).is_file(), name
    for name in ("app.css", "app.js"):
        text = (package / "static" / name).read_text()
        assert "http://" not in text and "https://" not in text, f"{name} loads from elsewhere"


def test_an_entry_without_choices_has_none(catalog: Catalog) -> None:
    entry = CatalogEntry("x-1", "X", Kind.IMAGE, Tier.BUDGET,
                         FlatRule(credits_per_output=Decimal(1)), max_outputs=1)

    assert choices_of(entry) == {"seconds": (), "quality": (), "option": ()}
    assert defaults_of(entry)["seconds"] == ""
    veo = catalog.get("veo-3")
    assert isinstance(veo.rule, PerSecondRule)
    assert choices_of(veo)["seconds"] == ("5", "6", "7", "8")


def test_charts_side_by_side_share_their_colours() -> None:
    days = [("Mar 1", {"veo-3": 75, "kling": 20})]
    cycles = [("Feb 1", {"flux-2-max": 300, "veo-3": 155})]
    order = ("flux-2-max", "veo-3")
    left = bar_chart("a", "days", days, series_order=order)
    right = bar_chart("b", "cycles", cycles, series_order=order)
    colour = {item.series: item.colour for item in (*left.legend, *right.legend)
              if item.series == "veo-3"}
    assert len({i.colour for i in (*left.legend, *right.legend) if i.series == "veo-3"}) == 1
    assert colour
    assert [item.series for item in left.legend] == ["veo-3", OTHER]
    assert sum(item.credits for item in left.legend) == 95
