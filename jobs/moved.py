"""Where job functions live now, for jobs stored under the dotted path they had when they were enqueued.

RQ keeps a job's function as a dotted path in Redis (its `func_name`) and the outbox keeps one in
`pending_job.func`; a job enqueued before a module moved would otherwise fail to import in the worker. Every
place that turns a stored path into a function (`jobs.queue.enqueue`, the workers, the outbox's inline run)
passes it through `resolve` first. An entry stays as long as a deployment may still hold such jobs: RQ keeps
failed jobs a month (`jobs.queue.FAILURE_TTL`), so drop an entry a month after the release that moved it.
"""

from __future__ import annotations

# old module → new module; the function keeps its name.
MOVED_MODULES: dict[str, str] = {
    "jobs.notify": "jobs.notifications",
    "jobs.reports": "jobs.appeals",
    "services.appeals": "services.appeals.records",
    "services.intake": "services.appeals.intake",
    "services.routing": "services.appeals.routing",
    "services.workflow": "services.appeals.workflow",
    "services.deadlines": "services.appeals.deadlines",
    "services.calendar": "services.appeals.calendar",
    "services.duty": "services.appeals.duty",
    "services.duplicates": "services.appeals.duplicates",
    "services.evaluation": "services.appeals.evaluation",
    "services.kpi": "services.appeals.kpi",
    "services.reports": "services.reporting.weekly",
    "services.ranking": "services.appeals.property_ranking",
    "services.booking": "services.booking.venues",
    "services.points": "services.points.ledger",
    "services.rewards": "services.points.rewards",
    "services.rankings": "services.points.board",
    "services.events": "services.points.events",
    "services.notices": "services.notices.announcements",
    "services.notify": "services.notifications.notify",
    "services.outbox": "services.notifications.outbox",
    "services.residents": "services.organisation.residents",
    "services.org_import": "services.organisation.org_import",
    "services.auth": "services.organisation.auth",
}


def resolve(func_name: str) -> str:
    """The current dotted path of a job function stored under `func_name` (itself when it has not moved)."""
    module, _, attr = func_name.rpartition(".")
    new_module = MOVED_MODULES.get(module)
    return f"{new_module}.{attr}" if new_module else func_name
