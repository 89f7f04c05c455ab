"""The `hongguan` command line: run everything, migrate, seed, worker, scheduler, sandbox, chat, nlp."""

from __future__ import annotations

import click

from cli.appctx import current_app, with_appcontext


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """hongguan (红管家): community-governance backend for a WeChat official account and mini-program."""


def _add_area_commands() -> None:
    """Command groups that live beside the code they drive."""
    from cli.inbound_commands import inbound_group
    from cli.nlp_commands import nlp_group
    from cli.routing_commands import routing_group
    from cli.staff_login import staff_login_command
    from cli.staff_tokens import staff_token_group

    main.add_command(inbound_group)
    main.add_command(nlp_group)
    main.add_command(routing_group)
    main.add_command(staff_token_group)
    main.add_command(staff_login_command)


_add_area_commands()


@main.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--sandbox-port", default=5100, show_default=True)
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes")
def run_command(host: str, port: int, sandbox_port: int, workers: int) -> None:
    """Start Redis (embedded unless HONGGUAN_REDIS_URL is set), migrate, seed, sandbox, web, worker and cron."""
    from cli.run import run_all

    run_all(host, port, sandbox_port, workers)


@main.group("db")
def db_group() -> None:
    """Database migrations (Alembic)."""


@db_group.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Migrate the configured database to the latest schema."""
    from infra.migrate import upgrade

    upgrade(current_app.config["DATABASE_URL"])
    click.echo("database is up to date")


@db_group.command("check")
@with_appcontext
def db_check() -> None:
    """Exit non-zero when the database is not at the latest revision."""
    from infra.migrate import is_up_to_date

    if not is_up_to_date(current_app.config["DATABASE_URL"]):
        raise click.ClickException("database needs `hongguan db upgrade`")
    click.echo("database is up to date")


@main.command("seed-demo")
@with_appcontext
def seed_demo() -> None:
    """Create the demo community (idempotent): grids, estates, departments, staff and their data."""
    from infra.web import get_db
    from services.demo import seed_all

    with get_db().transaction() as session:
        summary = seed_all(session)
    click.echo("demo data ready: " + ", ".join(f"{k}={v}" for k, v in summary.items()))


@main.command("worker")
@click.option("--burst", is_flag=True, help="exit when the queues are empty")
@click.option("--fork", is_flag=True, help="fork a work horse per job (isolation, at ~35 ms a job)")
@with_appcontext
def worker_command(burst: bool, fork: bool) -> None:
    """Run an RQ worker (with RQ's scheduler for delayed jobs and retries) on every hongguan queue."""
    from infra.redis import connect_for_worker
    from jobs.queue import QUEUES
    from jobs.worker import HongguanSimpleWorker, HongguanWorker, work_through_outages

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    conn = connect_for_worker(app.config["REDIS_URL"])
    worker_class = HongguanWorker if fork else HongguanSimpleWorker
    work_through_outages(lambda: worker_class(list(QUEUES), connection=conn, app=app), conn, burst=burst)


@main.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run RQ's cron scheduler with hongguan's periodic jobs (jobs/schedule.py), and the inbound relay that
    hands the webhook's stored messages to RQ (jobs/relay.py)."""
    from infra.redis import connect_for_worker
    from jobs import relay
    from jobs.leader import SchedulerLease
    from jobs.schedule import build_scheduler
    from jobs.worker import cron_through_outages

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # The relay runs on every scheduler (jobs are keyed by message id and a handled message is skipped, so two
    # relays never handle a message twice); the cron schedule runs only on the holder of the scheduler lease.
    stop_relay = relay.start(app, interval=float(app.config["INBOUND_RELAY_INTERVAL"]))
    conn = connect_for_worker(app.config["REDIS_URL"])
    lease = SchedulerLease(conn)
    try:
        cron_through_outages(lambda: build_scheduler(conn, lease), conn, lease)
    finally:
        stop_relay()


@main.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5100, show_default=True)
def sandbox_command(host: str, port: int) -> None:
    """Serve the WeChat API sandbox on loopback (what `hongguan run` and the tests use instead of WeChat)."""
    from wechat.sandbox import serve

    serve(host, port)


@main.command("chat")
@click.option(
    "--openid",
    default="o-demo-resident-0001",  # services.demo.DEMO_RESIDENT_OPENID (kept literal: --help imports no models)
    show_default=True,
    help="the WeChat user you play (the default is the demo resident of 绿洲花园 1幢, grid G1)",
)
@click.option("--url", "base_url", default="http://127.0.0.1:5000", show_default=True, help="the running web")
@click.option("--sandbox", "sandbox_url", default="http://127.0.0.1:5100", show_default=True)
@click.option("--mode", type=click.Choice(["aes", "compat", "plain"]), default="aes", show_default=True)
def chat_command(openid: str, base_url: str, sandbox_url: str, mode: str) -> None:
    """Chat with the running bot as a resident: lines are signed and encrypted exactly as WeChat does."""
    from infra.config import load_config
    from wechat.chat import run_chat

    cfg = load_config()  # the token and keys only: the simulator needs no application
    run_chat(
        base_url, sandbox_url, cfg["WECHAT_TOKEN"], cfg["WECHAT_AES_KEY"], cfg["WECHAT_APPID"], openid, mode,
        account_id=cfg["WECHAT_ACCOUNT_ID"],
    )  # fmt: skip


@main.command("import")
@click.argument("kind")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def import_command(kind: str, path: str) -> None:
    """Import KIND (communities, grids, estates, buildings, departments, staff …) from a CSV file."""
    from pathlib import Path

    from infra.web import get_db
    from services.organisation.org_import import OrgImportError, import_csv

    try:
        with get_db().transaction() as session:
            report = import_csv(session, kind, Path(path), progress=True)
    except OrgImportError as e:
        raise click.ClickException(str(e)) from e
    click.echo(report.summary())
