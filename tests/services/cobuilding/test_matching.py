"""Suggestions for a need: only orderable resources serving the need's community, ranked, with the reason."""

from __future__ import annotations

from datetime import timedelta

from infra import clock
from models.org import Community
from services.cobuilding import matching, needs, orders, resources


def _publish(session, cob, title, description, *, kind="service", days=30, communities=(), capacity=3, unit=None):
    start = clock.now() - timedelta(days=1)
    return resources.publish(session, cob.org.staff["secretary"], unit or cob.company, kind=kind, title=title,
                             description=description, capacity=capacity, available_from=start,
                             available_until=start + timedelta(days=days), community_ids=communities)  # fmt: skip


def test_the_best_resource_comes_first_with_the_shared_words(session, cob):
    repair = _publish(session, cob, "楼道电线安全检查", "电工排查老化线路和飞线充电")
    _publish(session, cob, "亲子阅读会", "绘本故事")
    need = needs.post(session, cob.org.staff["g1_leader"], title="楼道电线老化", description="担心电动车飞线充电起火")
    (best, *_) = matching.suggest(session, cob.org.staff["g1_leader"], need.id)
    assert best["resource_id"] == repair.id
    assert "电线" in best["shared_keywords"]
    assert best["reason"].startswith("共同关键词")


def test_expired_full_and_other_communities_resources_are_not_suggested(session, cob, clock):
    other = Community(code="other-c", name="别的社区")
    session.add(other)
    session.flush()
    elsewhere = _publish(session, cob, "法律咨询", "律师解答纠纷", communities=[other.id])
    expiring = _publish(session, cob, "法律咨询坐班", "律师解答纠纷", days=3)
    full = _publish(session, cob, "律师法律讲座", "律师解答纠纷", capacity=1)
    orders.place(session, cob.org.staff["g2_leader"], resource_id=full.id)
    live = _publish(session, cob, "法律援助", "律师解答纠纷")
    need = needs.post(session, cob.org.staff["secretary"], title="居民需要律师解答纠纷")
    clock.advance(timedelta(days=5))
    ids = [s["resource_id"] for s in matching.suggest(session, cob.org.staff["secretary"], need.id, limit=10)]
    assert live.id in ids
    assert elsewhere.id not in ids
    assert expiring.id not in ids
    assert full.id not in ids


def test_the_kind_the_need_asks_for_is_preferred(session, cob):
    talk = _publish(session, cob, "老年活动", "老人活动", kind="activity")
    room = _publish(session, cob, "老年活动", "老人活动", kind="venue")
    need = needs.post(session, cob.org.staff["secretary"], title="老年活动", kind="venue")
    ranked = [s["resource_id"] for s in matching.suggest(session, cob.org.staff["secretary"], need.id)]
    assert ranked[:2] == [room.id, talk.id]
