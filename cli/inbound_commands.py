"""`hongguan inbound …`: stored WeChat pushes that failed, listed and retried by an operator (bot/failed.py)."""

from __future__ import annotations

import click

from cli.appctx import current_app, with_appcontext


@click.group("inbound")
def inbound_group() -> None:
    """Stored WeChat pushes: the failed ones, and retrying them."""


@inbound_group.command("failed")
@click.option("--limit", default=50, show_default=True, help="at most this many, oldest first")
@with_appcontext
def failed(limit: int) -> None:
    """List the pushes that failed: unreadable ones (decryption, XML) and messages whose retries are spent."""
    from bot.failed import count_failed, list_failed
    from infra.web import get_db

    with get_db().session(deferred=True) as session:
        total = count_failed(session)
        rows = list_failed(session, limit=limit)
        session.rollback()
    for r in rows:
        kind = r.msg_type + (f"/{r.event}" if r.event else "") + (" (encrypted)" if r.encrypted else "")
        error = " ".join(r.last_error.split())[:120]
        click.echo(f"#{r.id}  {r.received_at:%Y-%m-%d %H:%M:%S}Z  {kind}  attempts={r.attempts}  {error}")
    click.echo(f"{total} failed push(es)" + (f", {len(rows)} shown" if len(rows) < total else ""))


@inbound_group.command("retry")
@click.argument("inbound_id", type=int)
@with_appcontext
def retry(inbound_id: int) -> None:
    """Queue failed push INBOUND_ID again (an unreadable one is first read again with the configured keys)."""
    from redis.exceptions import RedisError

    from bot import failed as failed_pushes
    from bot.inbound import JOB, QUEUED, job_id_for
    from infra.web import get_db
    from jobs.queue import enqueue
    from services.errors import DomainError
    from wechat.crypto import MessageCrypto

    cfg = current_app.config
    keys = [cfg["WECHAT_AES_KEY"], cfg.get("WECHAT_PREVIOUS_AES_KEY")]
    cryptos = [MessageCrypto(cfg["WECHAT_TOKEN"], key, cfg["WECHAT_APPID"]) for key in keys if key]
    try:
        with get_db().transaction() as session:
            result = failed_pushes.retry(session, inbound_id, cryptos)
    except DomainError as e:
        raise click.ClickException(e.message) from e
    if result.outcome == QUEUED:
        try:
            # Now rather than at the relay's next poll: a job RQ still keeps from the failed run is replaced.
            enqueue(JOB, inbound_id, job_id=job_id_for(inbound_id), replace_idle=True)
        except RedisError:
            click.echo("Redis is unavailable: the scheduler's relay hands the message over once it is back", err=True)
    click.echo(f"#{result.id} {result.outcome}: {result.detail}")
    if result.outcome == "unreadable":
        raise SystemExit(1)
