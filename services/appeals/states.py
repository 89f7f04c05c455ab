"""The appeal's state sets, each named for what it means (the states themselves are `models.appeal.APPEAL_STATES`)."""

from __future__ import annotations

# Not closed: the resident can still chase, rate, reopen or withdraw it, it shows as "in progress" in their
# list, and a staff member may close it. A resolved appeal waits for the resident's rating, so it is here.
NOT_CLOSED = ("received", "triaged", "dispatched", "accepted", "in_progress", "returned", "resolved")

# Unresolved: the handler still owes a resolution; the weekly report lists these as the overdue backlog,
# duplicates join them, a resident can chase them.
UNRESOLVED = ("received", "triaged", "dispatched", "accepted", "in_progress", "returned")

# A handling unit is working on it: the deadline ladder runs, a chase goes to the handler.
WORKING = ("dispatched", "accepted", "in_progress")

# No unit has accepted it yet: staff may still correct its category and re-route it.
NOT_YET_ACCEPTED = ("received", "triaged", "dispatched", "returned")
