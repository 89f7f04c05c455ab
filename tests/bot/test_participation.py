"""The official account's 居民投票 menu entry lists open ballots; "微实事：…" proposes a project from chat."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot import menu
from models.micro_project import Proposal
from services.organisation.residents import bind_to_building, get_or_create
from services.participation import ballots, proposals

from ..services.participation.conftest import open_estate_ballot
from .conftest import OPENID


def _bind(session, org, building="E-LZ-1", room="101"):
    resident = get_or_create(session, OPENID)
    bind_to_building(session, resident, org.buildings[building].id)
    resident.room = room
    session.commit()
    return resident


def test_the_menu_lists_the_open_ballots_where_i_live(wx, session, org, clock):
    assert "绑定" in wx.say("/click OPEN_BALLOTS")  # not bound yet
    resident = _bind(session, org)
    assert "目前没有正在进行的微实事投票" in wx.say("/click OPEN_BALLOTS")
    ballot = open_estate_ballot(session, org, titles=["增设充电桩", "楼道灯改造"])
    session.commit()
    listing = wx.say("/click OPEN_BALLOTS")
    assert ballot.title in listing
    assert "增设充电桩、楼道灯改造" in listing
    assert "每户一票" in listing
    assert "（已投）" not in listing
    (_, first), *_ = ballots.options(session, ballot)
    ballots.cast(session, ballot, resident, [first.public_id], now=clock.now())
    session.commit()
    assert "（已投）" in wx.say("投票")  # the typed command too
    clock.advance(timedelta(days=8))
    assert "目前没有正在进行" in wx.say("/click OPEN_BALLOTS")


def test_the_menu_definition_has_the_ballot_entry_within_wechats_limit():
    service = menu.menu_definition("wx-mini")["button"][2]["sub_button"]
    assert {"type": "click", "name": "居民投票", "key": menu.OPEN_BALLOTS} in service
    assert len(service) <= 5


def test_a_resident_proposes_a_micro_project_by_chat(wx, session, org, clock):
    _bind(session, org, building="E-LZ-4")
    reply = wx.say("微实事：楼下空地装几张休闲座椅，方便老人歇脚")
    assert "已收到您的微实事提议" in reply
    session.expire_all()
    proposal = session.scalar(select(Proposal))
    assert (proposal.source, proposal.scope, proposal.building_id) == ("chat", "building", org.buildings["E-LZ-4"].id)
    assert proposal.description == "楼下空地装几张休闲座椅，方便老人歇脚"
    assert proposals.view(proposal)["status"] == "submitted"


def test_an_unbound_resident_is_asked_to_bind_first(wx, session, org):
    assert "请先绑定" in wx.say("微实事 装个快递柜")
    session.expire_all()
    assert session.scalar(select(Proposal)) is None


def test_residents_support_a_proposal_by_chat_until_it_reaches_screening(wx, session, org, clock):
    from models.resident import Resident
    from services.participation import supports

    supports.set_threshold(session, org.staff["community_staff"], supports_needed=2, window_days=10)
    neighbour = Resident(openid="o-chat-neighbour", community_id=org.community.id,
                         building_id=org.buildings["E-LZ-1"].id, room="102")  # fmt: skip
    session.add(neighbour)
    session.flush()
    _bind(session, org)
    assert "目前没有正在征集支持" in wx.say("征集支持")
    reply = wx.say("微实事：楼下空地装几张休闲座椅，方便老人歇脚")
    session.expire_all()
    proposal = session.scalar(select(Proposal))
    code = proposal.public_id[:6]
    assert f"编号 {code}" in reply
    assert "获得 2 位邻居支持后进入社区审核" in reply
    listing = wx.say("征集支持")
    assert f"{code}｜楼下空地装几张休闲座椅" in listing
    assert "0/2 人支持" in listing
    assert "提议人不能支持自己的提议" in wx.say(f"支持 {code}")
    assert "没有找到这个编号" in wx.say("支持 ffffff")
    session.expire_all()  # start a fresh transaction after the webhook's writes
    supports.support(session, proposal, neighbour, now=clock.now())
    session.commit()
    # The proposer's spouse, bound to the same room, supports by chat: the second support sends it to screening.
    spouse = wx.as_user("oSpouseOfProposer00000000001")
    spouse_row = get_or_create(session, "oSpouseOfProposer00000000001")
    bind_to_building(session, spouse_row, org.buildings["E-LZ-1"].id)
    session.commit()
    assert "已获得 2 位居民支持，进入社区审核" in spouse.say(f"支持：{code}")
    assert "目前没有正在征集支持" in spouse.say("征集支持")  # it has left the gathering stage
    session.expire_all()
    assert session.get(Proposal, proposal.id).status == "submitted"
