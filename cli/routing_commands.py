"""`hongguan routing …`: routing data and the staff corrections that feed `hongguan nlp train`."""

from __future__ import annotations

import csv
import sys

import click

from cli.appctx import with_appcontext


@click.group("routing")
def routing_group() -> None:
    """Routing rules, consultation answers and staff-corrected labels."""


@routing_group.command("nlp-export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="CSV file (default: stdout)")
@with_appcontext
def nlp_export(output: str | None) -> None:
    """Write staff corrections as a `text,label` CSV that `hongguan nlp train` accepts."""
    from infra.web import get_db
    from services.appeals.routing import export_labelled_examples

    with get_db().session() as session:
        rows = export_labelled_examples(session)
    handle = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout  # noqa: SIM115
    try:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    finally:
        if output:
            handle.close()
    if output:
        click.echo(f"{len(rows)} labelled examples written to {output}", err=True)


@routing_group.command("seed")
@with_appcontext
def seed() -> None:
    """Create the default routing rules, consultation answers and duplicate policy (idempotent)."""
    from infra.web import get_db
    from services.appeals.routing import seed_routing

    with get_db().transaction() as session:
        added = seed_routing(session)
    click.echo(f"{added} routing rules added")


@routing_group.command("rules")
@with_appcontext
def rules() -> None:
    """List the routing rules, most specific first."""
    from sqlalchemy import select

    from infra.web import get_db
    from models.routing import RoutingRule

    with get_db().session() as session:
        stmt = select(RoutingRule).order_by(
            RoutingRule.category, RoutingRule.grid_id, RoutingRule.estate_id, RoutingRule.community_id
        )
        for r in session.scalars(stmt):
            scope = (
                f"grid={r.grid_id}" if r.grid_id else f"estate={r.estate_id}" if r.estate_id else
                f"community={r.community_id}" if r.community_id else "default"
            )  # fmt: skip
            unit = r.department_id or r.property_company_id or ""
            state = "" if r.active else " (inactive)"
            click.echo(f"#{r.id} {r.category:<18} {scope:<14} → {r.handler_type} {unit} p={r.priority}{state}")
