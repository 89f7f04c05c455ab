"""Notifications: who is told what on which WeChat channel, and the outbox that hands the work to RQ after commit."""
