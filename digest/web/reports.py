"""The send report of an edition as an editor's page and a CSV download: the counts from the
ledger and the provider's events, the readers that failed, are deferred or unknown; and, with
click tracking, the reading figures (also on the edition's page)."""

from __future__ import annotations

import io

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from digest.app import App
from digest.clicks import ClickFigures
from digest.delivery_report import write_csv
from digest.edition import Edition
from digest.web import PAGES
from digest.web.editor import EditorSession, RowId, _edition

router = APIRouter(include_in_schema=False)

# What each count means, in the order the page shows them.
COUNTS = (
    ("sent", "handed to the provider or mail server"),
    ("delivered", "the provider says it reached the inbox's server"),
    ("deferred", "refused for now: tried again"),
    ("failed", "not sent: see the reasons below"),
    ("unknown", "may or may not have arrived"),
    ("bounced", "the address could not take it"),
    ("unsubscribed", "left after this edition"),
    ("complained", "marked it as spam"),
)


def clicks_of(request: Request, edition: Edition) -> ClickFigures | None:
    """For the reading figures on the report and the edition's page (None: none to show)."""
    app: App = request.app.state.digest
    return app.click_figures(edition)


PAGES.env.globals["clicks_of"] = clicks_of


@router.get("/editions/{edition_id}/report", response_class=HTMLResponse)
def report_page(current: EditorSession, edition_id: RowId) -> Response:
    edition = _edition(current, edition_id)
    report = current.app.delivery_report(edition)
    said = current.flashed()
    return current.page(
        "report.html",
        edition=edition,
        report=report,
        counts=COUNTS,
        errors=said.errors,
        notice=said.notice,
    )


@router.get("/editions/{edition_id}/report.csv")
def report_csv(current: EditorSession, edition_id: RowId) -> Response:
    edition = _edition(current, edition_id)
    out = io.StringIO()
    write_csv(current.app.delivery_outcomes(edition), out)
    name = f"{edition.newsletter}-{edition.number}-report.csv"
    return current.finish(
        Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    )
