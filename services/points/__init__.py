"""Volunteer points (积分制管理): the ledger, partner rewards, the monthly volunteer board and event signup."""
