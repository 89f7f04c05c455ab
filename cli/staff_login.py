"""`hongguan staff-login STAFF_ID`: print a one-time sign-in link to the staff console (first set-up, development)."""

from __future__ import annotations

from datetime import timedelta

import click

from cli.appctx import with_appcontext


@click.command("staff-login")
@click.argument("staff", nargs=-1, required=True)
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True, help="where the console is served")
@click.option("--ttl", type=click.IntRange(min=60, max=24 * 3600), default=15 * 60, show_default=True,
              help="seconds the link stays usable")  # fmt: skip
@with_appcontext
def staff_login_command(staff: tuple[str, ...], base_url: str, ttl: int) -> None:
    """Print a single-use sign-in link for each STAFF (a staff id, or the openid their WeChat is bound with)."""
    from sqlalchemy import select

    from infra.web import get_db
    from models.staff import Staff
    from services.console.signin import issue_link
    from services.errors import DomainError

    tokens: list[str] = []
    try:
        with get_db().transaction() as session:
            for who in staff:
                staff_id = int(who) if who.isdigit() else session.scalar(select(Staff.id).where(Staff.openid == who))
                if staff_id is None:
                    raise click.ClickException(f"no staff member with id or openid {who!r}")
                tokens.append(issue_link(session, staff_id, ttl=timedelta(seconds=ttl)))
    except DomainError as e:
        raise click.ClickException(e.message) from e
    for token in tokens:
        click.echo(f"{base_url.rstrip('/')}/console/login/link/{token}")
    click.echo(f"single use, valid {ttl // 60} minutes", err=True)
