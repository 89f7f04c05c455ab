"""The "绑定" chat dialogue: choose estate, then building; state in Resident.dialog_state ("bind:…").

States (other prefixes belong to intake and are never touched here):
  bind:estate            waiting for an estate number
  bind:building:<id>     waiting for a building number of estate <id>
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from models.org import Estate
from models.resident import Resident
from services.organisation import residents

PREFIX = "bind:"
CANCEL_WORDS = {"取消", "退出", "算了", "cancel", "q"}


def is_active(resident: Resident) -> bool:
    """True while the resident is in the middle of the binding dialogue."""
    return is_active_state(resident.dialog_state)


def is_active_state(dialog_state: str | None) -> bool:
    """True when a Resident.dialog_state value belongs to the binding dialogue."""
    return bool(dialog_state and dialog_state.startswith(PREFIX))


def _choice(text: str, names: list[str]) -> int | None:
    """0-based index chosen by a number ("2", "２", "2.") or by an exact name; None if neither."""
    cleaned = text.strip().rstrip(".。、")
    try:
        n = int(cleaned)
    except ValueError:
        return names.index(cleaned) if cleaned in names else None
    return n - 1 if 1 <= n <= len(names) else None


def _numbered(title: str, names: list[str]) -> str:
    lines = [title] + [f"{i}. {name}" for i, name in enumerate(names, 1)]
    lines.append("回复序号选择，回复“取消”退出。")
    return "\n".join(lines)


def _estates_for(session: Session, resident: Resident) -> list[Estate]:
    """The resident's community's estates when bound, else all estates."""
    return residents.list_estates(session, resident.community_id) or residents.list_estates(session)


def start(session: Session, resident: Resident) -> str:
    """Begin the dialogue: list the estates (of the resident's community, when known)."""
    estates = _estates_for(session, resident)
    if not estates:
        return "暂时没有可选择的小区，请发送您的位置来绑定网格。"
    resident.dialog_state = PREFIX + "estate"
    return _numbered("请选择您居住的小区：", [e.name for e in estates])


def handle(session: Session, resident: Resident, text: str) -> str:
    """Advance the dialogue with the resident's answer and return the reply."""
    state = resident.dialog_state or ""
    if text.strip().lower() in CANCEL_WORDS:
        resident.dialog_state = None
        return "已取消绑定。需要时回复“绑定”重新开始。"
    if state == PREFIX + "estate":
        # Estates are listed in a stable order, so the number the resident saw still means the same estate.
        estates = _estates_for(session, resident)
        index = _choice(text, [e.name for e in estates])
        if index is None:
            return _numbered("没有找到这个序号，请重新选择小区：", [e.name for e in estates])
        estate = estates[index]
        buildings = residents.list_buildings(session, estate.id)
        if not buildings:
            resident.dialog_state = None
            return f"{estate.name}暂未登记楼栋，请发送您的位置来绑定网格。"
        resident.dialog_state = f"{PREFIX}building:{estate.id}"
        return _numbered(f"{estate.name}：请选择楼栋：", [b.name for b in buildings])
    if state.startswith(PREFIX + "building:"):
        try:
            estate_id = int(state.rsplit(":", 1)[1])
        except ValueError:
            resident.dialog_state = None
            return start(session, resident)
        buildings = residents.list_buildings(session, estate_id)
        index = _choice(text, [b.name for b in buildings])
        if index is None:
            return _numbered("没有找到这个楼栋，请重新选择：", [b.name for b in buildings])
        binding = residents.bind_to_building(session, resident, buildings[index].id)
        resident.dialog_state = None
        return f"绑定成功：{binding.describe()}。有问题可以直接发消息给我。"
    # An unknown bind: state (e.g. from an older version): start over rather than guess.
    resident.dialog_state = None
    return start(session, resident)
