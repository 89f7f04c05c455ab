"""`hongguan staff-token …`: issue a staff console bearer token with a lifetime, or revoke tokens."""

from __future__ import annotations

from datetime import timedelta

import click

from cli.appctx import current_app, with_appcontext


class _IssueByDefault(click.Group):
    """`staff-token STAFF_ID …` issues a token; `staff-token revoke …` revokes (a group with a default command)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Route anything that is not a subcommand name (or --help) to `issue`."""
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["issue", *args]
        return super().parse_args(ctx, args)


@click.group("staff-token", cls=_IssueByDefault)
def staff_token_group() -> None:
    """Staff console bearer tokens: `staff-token STAFF_ID [--ttl SECONDS]` issues one, `revoke` ends them."""


@staff_token_group.command("issue")
@click.argument("staff_id", type=int)
@click.option("--ttl", type=click.IntRange(min=1), help="lifetime in seconds (default: HONGGUAN_STAFF_TOKEN_TTL)")
@with_appcontext
def issue_command(staff_id: int, ttl: int | None) -> None:
    """Issue a bearer token for an active staff member (printed once; only its hash is stored)."""
    from console.auth import issue_staff_token, token_expiry
    from infra.web import get_db

    seconds = ttl if ttl is not None else int(current_app.config["STAFF_TOKEN_TTL"])
    try:
        with get_db().transaction() as session:
            token = issue_staff_token(session, staff_id, ttl=timedelta(seconds=seconds))
            expires_at = token_expiry(session, token)
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    click.echo(token)
    click.echo(f"expires {expires_at:%Y-%m-%d %H:%M} UTC", err=True)


@staff_token_group.command("revoke")
@click.argument("staff_id", type=int, required=False)
@click.option("--token", "token", help="revoke only this token (hgs_…), e.g. one that leaked")
@with_appcontext
def revoke_command(staff_id: int | None, token: str | None) -> None:
    """Revoke every live token of STAFF_ID, or the one given with --token; effective on the next request."""
    from console.auth import revoke_staff_token, revoke_staff_tokens
    from infra.web import get_db

    if (staff_id is None) == (token is None):
        raise click.UsageError("give either STAFF_ID or --token")
    with get_db().transaction() as session:
        count = (
            revoke_staff_tokens(session, staff_id)
            if staff_id is not None
            else int(revoke_staff_token(session, token or ""))
        )
    if token is not None and not count:
        raise click.ClickException("no live token matches")
    click.echo(f"revoked {count} token(s)")
