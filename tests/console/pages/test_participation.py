"""微实事 pages: the screening queue (a decline needs a reason, nothing saved otherwise), opening a ballot from the
form, the ballot page refusing results before the close and showing counts, turnout and a matching recount
after it, the budget cap and progress to completion; CSRF and the organiser roles on every page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from infra import clock as project_clock
from models.micro_project import Proposal
from services.participation import ballots, proposals
from tests.console.pages.conftest import csrf_of
from tests.services.participation.conftest import feasible_proposals, make_resident


def _local(value: Any) -> str:
    return value.astimezone(project_clock.LOCAL_TZ).strftime("%Y-%m-%dT%H:%M")


def test_screening_queue_feasible_merged_and_a_decline_without_reason_refused(
    session: Session, browser_for: Any, org: Any, clock: Any
) -> None:
    proposer = make_resident(session, org)
    made = [
        proposals.propose(session, proposer, title=t, description=f"{t}：居民提议", scope="estate")
        for t in ("楼道扶手", "充电车棚", "车棚充电桩")
    ]
    session.commit()
    desk = browser_for("community_staff")
    queue = desk.get("/console/participation/proposals")
    html = queue.get_data(as_text=True)
    assert queue.status_code == 200
    assert all(p.title in html for p in made)
    token = csrf_of(html)
    url = "/console/participation/proposals/{}/screen"
    refused = desk.post(url.format(made[0].public_id), data={"csrf_token": token, "decision": "declined"})
    assert refused.status_code == 400
    assert "不采纳时请写明理由" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(Proposal, made[0].id).status == "submitted"  # nothing saved
    ok = desk.post(url.format(made[1].public_id), data={"csrf_token": token, "decision": "feasible"})
    assert ok.status_code == 303
    merged = desk.post(url.format(made[2].public_id),
                       data={"csrf_token": token, "decision": "merged", "merged_into": made[1].public_id})  # fmt: skip
    assert merged.status_code == 303
    declined = desk.post(url.format(made[0].public_id),
                         data={"csrf_token": token, "decision": "declined", "reason": "楼道宽度不够"})  # fmt: skip
    assert declined.status_code == 303
    session.expire_all()
    assert [session.get(Proposal, p.id).status for p in made] == ["declined", "feasible", "merged"]
    assert session.get(Proposal, made[2].id).merged_into_id == made[1].id
    assert "楼道宽度不够" in desk.get("/console/participation/proposals?status=declined").get_data(as_text=True)


def test_the_pages_need_an_organiser_role_and_a_csrf_token(session: Session, browser_for: Any, org: Any) -> None:
    leader = browser_for("g1_leader")
    for url in ("/console/participation/proposals", "/console/participation/ballots",
                "/console/participation/projects", "/console/councils"):  # fmt: skip
        refused = leader.get(url)
        assert refused.status_code == 403, url
        assert "您的角色不能组织居民议事和微实事" in refused.get_data(as_text=True)
    (p,) = [proposals.propose(session, make_resident(session, org), title="健身角", description="d", scope="estate")]
    session.commit()
    desk = browser_for("community_staff")
    forged = desk.post(f"/console/participation/proposals/{p.public_id}/screen", data={"decision": "feasible"})
    assert forged.status_code == 400
    assert "CSRF" in forged.get_data(as_text=True)
    session.expire_all()
    assert session.get(Proposal, p.id).status == "submitted"


def test_open_a_ballot_results_refused_before_the_close_then_counts_and_a_matching_recount(
    session: Session, browser_for: Any, org: Any, clock: Any
) -> None:
    items = feasible_proposals(session, org, ["加装电梯扶手", "增设充电桩"])
    session.commit()
    desk = browser_for("community_staff")
    form = desk.get("/console/participation/ballots").get_data(as_text=True)
    now = clock.now()
    data = {"csrf_token": csrf_of(form), "title": "绿洲花园微实事投票", "scope": "estate",
            "estate_id": str(org.estates["E-LZ"].id), "proposals": [p.public_id for p in items],
            "opens_at": _local(now), "closes_at": _local(now + timedelta(days=3)), "rule": "household",
            "max_choices": "1"}  # fmt: skip
    bad = desk.post("/console/participation/ballots", data={**data, "closes_at": _local(now - timedelta(days=1))})
    assert bad.status_code == 400
    assert "截止时间必须晚于开始时间" in bad.get_data(as_text=True)
    opened = desk.post("/console/participation/ballots", data=data)
    assert opened.status_code == 303, opened.get_data(as_text=True)
    ballot_url = opened.headers["Location"]
    ballot = ballots.get(session, ballot_url.rsplit("/", 1)[1])
    assert (ballot.rule, ballot.max_choices, ballot.estate_id) == ("household", 1, org.estates["E-LZ"].id)
    for room, choice in (("201", items[1]), ("202", items[1]), ("203", items[0])):
        ballots.cast(session, ballot, make_resident(session, org, room=room), [choice.public_id], now=clock.now())
    session.commit()
    before = desk.get(ballot_url).get_data(as_text=True)
    assert "投票结束后公布" in before
    assert "投票截止后才公布结果" in before  # the service's refusal, shown as is
    assert 'class="votes"' not in before
    early = desk.get(f"{ballot_url}/results")
    assert early.status_code == 409
    assert "投票截止后才公布结果" in early.get_data(as_text=True)
    clock.advance(timedelta(days=3))
    desk = browser_for("community_staff")  # the console session has idled out meanwhile
    after = desk.get(ballot_url).get_data(as_text=True)
    assert '<td>增设充电桩</td><td class="votes">2</td>' in after
    assert '<td>加装电梯扶手</td><td class="votes">1</td>' in after
    assert '<strong id="voters">3</strong>' in after
    checked = desk.get(f"{ballot_url}?recount=1").get_data(as_text=True)
    assert "与公布结果一致" in checked
    assert "存储选票 3 张，投票记录 3 条" in checked


def test_budget_cap_funding_and_progress_to_completion(
    session: Session, browser_for: Any, org: Any, clock: Any
) -> None:
    first, second = feasible_proposals(session, org, ["楼道灯改造", "健身步道"])
    session.commit()
    desk = browser_for("community_staff")
    year = clock.local_now().year
    token = csrf_of(desk.get("/console/participation/projects").get_data(as_text=True))
    no_budget = desk.post(f"/console/participation/proposals/{first.public_id}/fund?year={year}",
                          data={"csrf_token": token, "budget_yuan": "6000"})  # fmt: skip
    assert no_budget.status_code == 409
    assert "还没有设定微实事预算" in no_budget.get_data(as_text=True)
    assert desk.post(f"/console/participation/budget?year={year}",
                     data={"csrf_token": token, "cap_yuan": "10000"}).status_code == 303  # fmt: skip
    funded = desk.post(f"/console/participation/proposals/{first.public_id}/fund?year={year}",
                       data={"csrf_token": token, "budget_yuan": "6000"})  # fmt: skip
    assert funded.status_code == 303
    over = desk.post(f"/console/participation/proposals/{second.public_id}/fund?year={year}",
                     data={"csrf_token": token, "budget_yuan": "4001"})  # fmt: skip
    assert over.status_code == 409
    assert "超出" in over.get_data(as_text=True)
    listing = desk.get(f"/console/participation/projects?year={year}").get_data(as_text=True)
    assert '<strong id="committed">6000</strong>' in listing
    assert '<strong id="remaining">4000</strong>' in listing
    project_url = funded.headers["Location"]
    progress = f"{project_url}/progress"
    bad_photo = desk.post(progress, data={"csrf_token": token, "note": "开工", "progress_percent": "30",
                                          "spent_yuan": "1000", "photos": "javascript:alert(1)"})  # fmt: skip
    assert bad_photo.status_code == 400
    started = desk.post(progress, data={"csrf_token": token, "note": "开工", "progress_percent": "30",
                                        "spent_yuan": "1000", "photos": "https://img.example.cn/1.jpg"})  # fmt: skip
    assert started.status_code == 303
    backwards = desk.post(progress, data={"csrf_token": token, "note": "x", "progress_percent": "10",
                                          "spent_yuan": "1000"})  # fmt: skip
    assert backwards.status_code == 409
    assert "进度不能倒退" in backwards.get_data(as_text=True)
    assert desk.post(progress, data={"csrf_token": token, "note": "完工验收", "progress_percent": "100",
                                     "spent_yuan": "5800"}).status_code == 303  # fmt: skip
    done = desk.get(project_url).get_data(as_text=True)
    assert "已完工 100%" in done
    assert "https://img.example.cn/1.jpg" in done
    assert "完工验收" in done


def test_the_support_threshold_is_set_from_the_queue_and_gathering_proposals_wait_for_it(
    session: Session, browser_for: Any, org: Any, clock: Any
) -> None:
    desk = browser_for("community_staff")
    token = csrf_of(desk.get("/console/participation/proposals").get_data(as_text=True))
    bad = desk.post("/console/participation/support-threshold",
                    data={"csrf_token": token, "supports_needed": "3", "window_days": "0"})  # fmt: skip
    assert bad.status_code == 400
    assert "征集期须为 1–365 天" in bad.get_data(as_text=True)
    assert proposals.support_rule(session, org.community.id) is None
    ok = desk.post("/console/participation/support-threshold",
                   data={"csrf_token": token, "supports_needed": "3", "window_days": "14"})  # fmt: skip
    assert ok.status_code == 303
    session.expire_all()
    p = proposals.propose(session, make_resident(session, org), title="快递柜", description="d", scope="estate")
    session.commit()
    queue = desk.get("/console/participation/proposals").get_data(as_text=True)
    assert "新提议须在 14 天内获得 3 位范围内居民支持" in queue
    assert "快递柜" not in queue  # not in the screening queue while it gathers supports
    gathering = desk.get("/console/participation/proposals?status=gathering").get_data(as_text=True)
    assert "快递柜" in gathering
    assert "居民支持 0 / 3" in gathering
    refused = desk.post(f"/console/participation/proposals/{p.public_id}/screen",
                        data={"csrf_token": token, "decision": "feasible"})  # fmt: skip
    assert refused.status_code == 409
    assert "这个提议还在征集居民支持，达到支持数后才能审核" in refused.get_data(as_text=True)


def test_another_communitys_staff_cannot_open_our_ballot_or_screen_our_proposals(
    app: Any, session: Session, org: Any, clock: Any
) -> None:
    from models.org import Community
    from models.staff import Staff
    from services.console.signin import issue_link

    (p,) = feasible_proposals(session, org, ["健身角"])
    now = clock.now()
    ballot = ballots.open_ballot(
        session, org.staff["community_staff"], title="绿洲花园投票", scope="estate", estate_id=org.estates["E-LZ"].id,
        proposal_ids=[p.public_id], opens_at=now, closes_at=now + timedelta(days=1), rule="resident",
    )  # fmt: skip
    other = Community(code="other-page", name="别的社区")
    session.add(other)
    session.flush()
    stranger = Staff(name="外社区社工", role="community_staff", community_id=other.id, openid="o-staff-stranger")
    session.add(stranger)
    session.flush()
    token = issue_link(session, stranger.id)
    session.commit()
    desk = app.test_client()
    signin = desk.get(f"/console/login/link/{token}").get_data(as_text=True)
    assert desk.post(f"/console/login/link/{token}", data={"csrf_token": csrf_of(signin)}).status_code == 302
    refused = desk.get(f"/console/participation/ballots/{ballot.public_id}")
    assert refused.status_code == 404
    assert "您的社区里没有这次投票" in refused.get_data(as_text=True)
    queue = desk.get("/console/participation/proposals?status=all").get_data(as_text=True)
    assert "健身角" not in queue
    screened = desk.post(f"/console/participation/proposals/{p.public_id}/screen",
                         data={"csrf_token": csrf_of(queue), "decision": "declined", "reason": "x"})  # fmt: skip
    assert screened.status_code == 404


def test_only_web_addresses_of_a_residents_photos_become_links(session: Session, browser_for: Any, org: Any) -> None:
    proposals.propose(session, make_resident(session, org), title="座椅", description="d", scope="estate",
                      photos=["javascript:alert(1)", "https://img.example.cn/seat.jpg"])  # fmt: skip
    session.commit()
    html = browser_for("community_staff").get("/console/participation/proposals").get_data(as_text=True)
    assert 'href="https://img.example.cn/seat.jpg"' in html
    assert "javascript:" not in html
