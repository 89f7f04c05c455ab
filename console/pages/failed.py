"""失败消息: the stored pushes that could not be decrypted or parsed, or whose retries are spent, with retry.

The same functions as `hongguan inbound failed` / `retry` (bot/failed.py); only operators of the whole account
(community secretary, street officer, admin) see them, and the list shows no message content.
"""

from __future__ import annotations

import contextlib
from typing import Any

from flask import current_app
from redis.exceptions import RedisError

from bot import failed as failed_pushes
from bot.inbound import JOB, QUEUED, job_id_for
from console.pages.web import PageError, bp, page, record, signed_in, staff
from infra.web import db_session
from jobs.queue import enqueue
from wechat.crypto import MessageCrypto

OPERATOR_ROLES = ("community_secretary", "street_officer", "admin")
OUTCOMES = {
    "queued": "已重新排队处理",
    "unreadable": "仍无法解密或解析",
    "duplicate": "微信重发的同一消息已处理，本条标记为重复",
}


def _operator() -> None:
    if staff().role not in OPERATOR_ROLES:
        raise PageError(403, "只有社区书记、街道干部和管理员可以查看失败消息。")


@bp.get("/failed")
@signed_in
def failed_list() -> Any:
    """The failed pushes, oldest first."""
    _operator()
    session = db_session()
    body = page("console/failed.html", rows=failed_pushes.list_failed(session, limit=100),
                total=failed_pushes.count_failed(session))  # fmt: skip
    session.commit()
    return body


@bp.post("/failed/<int:inbound_id>/retry")
@signed_in
def failed_retry(inbound_id: int) -> Any:
    """Read a failed push again (current AES key, then the previous one) and hand it back to the worker."""
    _operator()
    cfg = current_app.config
    keys = [cfg["WECHAT_AES_KEY"], cfg.get("WECHAT_PREVIOUS_AES_KEY")]
    cryptos = [MessageCrypto(cfg["WECHAT_TOKEN"], key, cfg["WECHAT_APPID"]) for key in keys if key]
    session = db_session()
    result = failed_pushes.retry(session, inbound_id, cryptos)
    record("retry_inbound", "inbound_message", inbound_id, outcome=result.outcome)
    session.commit()
    if result.outcome == QUEUED:
        # Redis down: the scheduler's relay hands the queued row over once it is back.
        with contextlib.suppress(RedisError):
            enqueue(JOB, inbound_id, job_id=job_id_for(inbound_id), replace_idle=True)
    notice = f"#{inbound_id}：{OUTCOMES.get(result.outcome, result.outcome)}"
    body = page("console/failed.html", rows=failed_pushes.list_failed(session, limit=100),
                total=failed_pushes.count_failed(session), notice=notice)  # fmt: skip
    session.commit()
    return body
