"""The community's appeals as the labelled CSV that `hongguan nlp train` reads (README, NLP: the export CSV).

A row's label is the category staff set when they recategorised the appeal (the last `recategorise` event), else
the category it was routed under once the unit it was sent to accepted it. Appeals that nobody confirmed are left
out: still waiting in triage or for a unit to accept, filed as `other`, answered consultations, and appeals
closed as a duplicate or referred elsewhere (their routed category was not the right one or not theirs).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra import privacy
from models.appeal import Appeal, AppealEvent
from models.org import Community
from nlp.taxonomy import OTHER
from services.errors import NotFound

COLUMNS = ("id", "created_at", "community", "text", "label", "label_source")
STAFF = "staff"  # the label is a staff correction
ROUTED = "routed"  # the label is the routed category, confirmed by the unit accepting the appeal
# Closures whose routed category says nothing about the right one.
UNCONFIRMING_CLOSURES = ("duplicate", "referred")
BATCH = 1000


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One labelled appeal of the export."""

    id: int
    created_at: datetime
    community: str
    text: str
    label: str
    label_source: str  # STAFF or ROUTED

    def as_csv(self) -> list[str]:
        """The row in COLUMNS order."""
        return [str(self.id), self.created_at.isoformat(timespec="seconds"), self.community, self.text, self.label,
                self.label_source]  # fmt: skip


def _corrections(session: Session, appeal_ids: list[int]) -> dict[int, str]:
    """The last recategorisation's category of each appeal that has one."""
    out: dict[int, str] = {}
    stmt = (
        select(AppealEvent.appeal_id, AppealEvent.payload)
        .where(AppealEvent.appeal_id.in_(appeal_ids), AppealEvent.action == "recategorise")
        .order_by(AppealEvent.id)
    )
    for appeal_id, payload in session.execute(stmt):
        to = (payload or {}).get("to")
        if to:
            out[appeal_id] = str(to)
    return out


def history(session: Session, community_code: str | None = None) -> Iterator[HistoryRow]:
    """The labelled rows of every community's appeals (or of one community), oldest first."""
    codes = dict(session.execute(select(Community.id, Community.code)).all())
    stmt = select(Appeal).order_by(Appeal.id)
    if community_code is not None:
        community_id = next((cid for cid, code in codes.items() if code == community_code), None)
        if community_id is None:
            raise NotFound(f"没有编码为 {community_code} 的社区")
        stmt = stmt.where(Appeal.community_id == community_id)
    last_id = 0
    while True:
        batch = list(session.scalars(stmt.where(Appeal.id > last_id).limit(BATCH)))
        if not batch:
            return
        last_id = batch[-1].id
        corrected = _corrections(session, [a.id for a in batch])
        for appeal in batch:
            label, source = corrected.get(appeal.id), STAFF
            if label is None:
                confirmed = (
                    appeal.kind == "appeal"
                    and appeal.category not in (None, OTHER)
                    and appeal.accepted_at is not None
                    and appeal.closure_code not in UNCONFIRMING_CLOSURES
                )
                if not confirmed:
                    continue
                label, source = str(appeal.category), ROUTED
            # The model learns words, not residents' phone or room numbers: those stay in the database.
            text = privacy.redact_text(appeal.text).strip()
            if text:
                yield HistoryRow(appeal.id, appeal.created_at, codes.get(appeal.community_id, ""), text, label, source)


def write_csv(rows: Iterable[HistoryRow], handle: TextIO) -> int:
    """Write the header and the rows as UTF-8 CSV; returns the number of rows."""
    writer = csv.writer(handle)
    writer.writerow(COLUMNS)
    n = 0
    for row in rows:
        writer.writerow(row.as_csv())
        n += 1
    return n
