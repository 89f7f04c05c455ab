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
