"""Notices (物业通知公告 / community announcements): audience, publishing and read receipts."""
