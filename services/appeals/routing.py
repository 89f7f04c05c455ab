"""Routing: category (+ place) → the unit handling an appeal, from the staff-editable `routing_rule` table.

Rules follow SeeClickFix automations and Beijing 12345: the most specific rule for
the appeal's place wins (grid > estate > community > default); anything without a clear owner goes to the
resident's grid for human triage (分拣, the 兜底 owner). Every decision is stored on the appeal with the model
version, the deciding keywords and an explanation, plus a `classify` event, so a wrong route can be audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from infra import clock
from models.appeal import Appeal
from models.org import Building, Community, Department, Estate, Grid, PropertyCompany
from models.routing import ConsultAnswer, RoutingRule
from models.staff import Staff
from nlp.taxonomy import label_of
from services.appeals import workflow
from services.appeals.handling import grid_leaders, handler_staff, on_duty_now
from services.appeals.records import assign_community, record_event
from services.appeals.states import NOT_YET_ACCEPTED
from services.notifications import notify
from services.organisation.places import grid_for_location

if TYPE_CHECKING:
    from nlp.classifier import Decision

# Categories the grid handles itself (its own work, not triage) — the default taxonomy's "→ grid" rows.
GRID_CATEGORIES = ("sanitation", "neighbor")
OTHER = "other"
CONSULT = "consult"

# The default taxonomy (nlp/taxonomy.py) → the demo departments (services/demo.py DEPARTMENTS codes).
# (category, handler_type, department code or None, note)
DEFAULT_RULES: tuple[tuple[str, str, str | None, str], ...] = (
    ("property", "property_company", None, "物业服务 → 小区的物业公司"),
    ("sanitation", "grid", None, "环境卫生 → 网格"),
    ("municipal", "department", "municipal", "市政设施 → 市政管理所"),
    ("city_order", "department", "chengguan", "市容秩序 → 城管中队"),
    ("traffic_parking", "department", "traffic", "交通停车 → 交警中队"),
    ("fire_safety", "department", "fire", "消防安全 → 消防救援站"),
    ("public_security", "department", "police", "社会治安 → 派出所"),
    ("noise", "department", "environment", "噪音扰民 → 生态环境分局"),
    ("neighbor", "grid", None, "邻里纠纷 → 网格调解"),
    ("social_welfare", "department", "civil_affairs", "民生保障 → 社区民政"),
    ("health", "department", "health", "卫生健康 → 社区卫生服务中心"),
    ("education_culture", "department", "education", "教育文体 → 教育文体办"),
    ("consult", "department", "service_center", "政务咨询 → 社区服务中心答复"),
    ("other", "grid", None, "其他 → 网格分拣"),
)

_CENTRE = "社区党群服务中心（金鸡湖社区，星苑小区东门旁，电话 0512-6666 0000）"
_HOURS = "周一至周五 9:00-12:00、13:30-17:30（法定节假日休息，调休工作日照常）"
# (topic, keywords, answer): data, seeded into `consult_answer`, editable by staff afterwards.
DEFAULT_CONSULT_ANSWERS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "居住证",
        ("居住证", "暂住证", "居住登记"),
        f"办理居住证：请本人携带身份证、租房合同或房产证明、近期证件照1张，到{_CENTRE}办理，{_HOURS}。",
    ),
    (
        "户口",
        ("户口", "户籍", "落户", "迁户", "迁入", "迁出"),
        f"户籍业务（落户、迁入迁出）：请携带户口簿、身份证及相关证明，先到{_CENTRE}咨询预审，再到派出所户籍窗口办理，{_HOURS}。",
    ),
    (
        "证明",
        ("证明", "开具", "盖章"),
        f"开具居住、亲属等证明：请本人携带身份证、户口簿或房产证明到{_CENTRE}办理，一般当场出具，{_HOURS}。",
    ),
    (
        "身份证",
        ("身份证", "补办", "换证"),
        f"身份证办理、补换：请携带户口簿到派出所户籍窗口办理；可先到{_CENTRE}咨询所需材料，{_HOURS}。",
    ),
    (
        "社保医保",
        ("社保", "医保", "养老保险", "参保"),
        f"社保、医保参保与查询：请携带身份证到{_CENTRE}社保窗口办理，也可在“苏州社保”小程序自助查询，{_HOURS}。",
    ),
    (
        "办事时间",
        ("几点", "上班", "开门", "办公时间", "时间", "地址", "在哪"),
        f"社区党群服务中心地址：{_CENTRE}；办公时间：{_HOURS}。",
    ),
    (
        "通用",
        (),
        f"您的咨询已收到。政务服务事项请到{_CENTRE}办理或电话咨询，{_HOURS}。如需办理具体事项，请说明事项名称。",
    ),
)


@dataclass
class RouteDecision:
    """Where an appeal goes and why; `needs_triage` means a person at the grid must route it."""

    handler_type: str | None
    community_id: int | None
    grid_id: int | None
    department_id: int | None = None
    property_company_id: int | None = None
    estate_id: int | None = None
    rule_id: int | None = None
    needs_triage: bool = False
    reasons: list[str] = field(default_factory=list)
    # Filled by route_appeal: the staff whose notifications were queued (handler, grid leader, duty, triage).
    notified_staff_ids: list[int] = field(default_factory=list)

    @property
    def note(self) -> str:
        """The human-readable explanation stored as the appeal's routing_note."""
        return "；".join(self.reasons)


# ------------------------------------------------------------------ place


def locate(session: Session, appeal: Appeal) -> tuple[int | None, int | None, int | None]:
    """(community_id, estate_id, grid_id) of the appeal's place: building, else location, else resident."""
    estate_id = None
    grid_id = appeal.grid_id
    community_id = appeal.community_id
    if appeal.building_id is not None:
        building = session.get(Building, appeal.building_id)
        if building is not None:
            estate_id = building.estate_id
            grid_id = building.grid_id
    elif appeal.latitude is not None and appeal.longitude is not None:
        grid = grid_for_location(session, appeal.latitude, appeal.longitude)
        if grid is not None:
            grid_id = grid.id
    if grid_id is not None:
        grid = session.get(Grid, grid_id)
        if grid is not None:
            community_id = grid.community_id
    elif estate_id is not None:
        estate = session.get(Estate, estate_id)
        community_id = estate.community_id if estate else community_id
    return community_id, estate_id, grid_id


# ------------------------------------------------------------------ rules


def find_rule(
    session: Session,
    category: str,
    *,
    community_id: int | None = None,
    estate_id: int | None = None,
    grid_id: int | None = None,
) -> RoutingRule | None:
    """The active rule for the category that best fits the place: grid > estate > community > default."""
    stmt = select(RoutingRule).where(
        RoutingRule.category == category,
        RoutingRule.active.is_(True),
        or_(RoutingRule.community_id.is_(None), RoutingRule.community_id == community_id),
        or_(RoutingRule.estate_id.is_(None), RoutingRule.estate_id == estate_id),
        or_(RoutingRule.grid_id.is_(None), RoutingRule.grid_id == grid_id),
    )
    candidates = list(session.scalars(stmt))
    if not candidates:
        return None

    def specificity(rule: RoutingRule) -> tuple[int, int, int]:
        level = 3 if rule.grid_id else 2 if rule.estate_id else 1 if rule.community_id else 0
        return (level, rule.priority, -rule.id)

    return max(candidates, key=specificity)


def decide(
    session: Session,
    appeal: Appeal,
    category: str,
    *,
    needs_triage: bool = False,
    why: str | None = None,
) -> RouteDecision:
    """Resolve the handling unit for `category` at the appeal's place (no writes)."""
    community_id, estate_id, grid_id = locate(session, appeal)
    decision = RouteDecision(handler_type="grid", community_id=community_id, grid_id=grid_id, estate_id=estate_id)
    if why:
        decision.reasons.append(why)
    if needs_triage or category == OTHER:
        decision.needs_triage = True
        decision.reasons.append("分类不确定或为“其他”，转网格人工分拣")
        return decision
    rule = find_rule(session, category, community_id=community_id, estate_id=estate_id, grid_id=grid_id)
    if rule is None:
        decision.needs_triage = True
        decision.reasons.append(f"没有 {category} 的路由规则，转网格人工分拣")
        return decision
    decision.rule_id = rule.id
    if rule.handler_type == "grid":
        decision.reasons.append(f"规则#{rule.id}：由网格处理")
    elif rule.handler_type == "department":
        dept = session.get(Department, rule.department_id)
        decision.handler_type = "department"
        decision.department_id = rule.department_id
        decision.reasons.append(f"规则#{rule.id}：转{dept.name if dept else '部门'}")
    else:  # property_company: a fixed company, or the estate's own one
        company_id = rule.property_company_id
        if company_id is None and estate_id is not None:
            estate = session.get(Estate, estate_id)
            company_id = estate.property_company_id if estate else None
        if company_id is None:
            decision.needs_triage = True
            decision.reasons.append("物业类但不知道所在小区或小区无物业公司，转网格人工分拣")
            return decision
        company = session.get(PropertyCompany, company_id)
        decision.handler_type = "property_company"
        decision.property_company_id = company_id
        decision.reasons.append(f"规则#{rule.id}：转{company.name if company else '物业公司'}")
    if decision.grid_id is None and decision.handler_type == "grid":
        decision.needs_triage = True
        decision.reasons.append("不知道所在网格，转社区人工分拣")
    return decision


# ------------------------------------------------------------------ applying a decision


def apply_classification(session: Session, appeal: Appeal, result: Decision, route: RouteDecision) -> None:
    """Store the classifier's decision and the route's reasons on the appeal; write the `classify` event."""
    appeal.category = result.category
    appeal.confidence = round(float(result.confidence), 4)
    appeal.urgent = bool(result.urgent)
    appeal.urgency_reasons = list(result.urgency_reasons)
    appeal.model_version = result.model_version
    appeal.routing_keywords = [[kw, float(w)] for kw, w in result.keywords]
    suggestions = [[code, label, round(share, 4)] for code, label, share in result.suggestions]
    note = f"{result.explain()}；{route.note}" if route.note else result.explain()
    if route.needs_triage and suggestions:
        # The person triaging sees the model's two best guesses rather than a bare "unsure".
        note += "；建议：" + " / ".join(f"{label} {share:.0%}" for _, label, share in suggestions)
    appeal.routing_note = note[:500]
    appeal.community_id = route.community_id or appeal.community_id
    appeal.grid_id = route.grid_id or appeal.grid_id
    from_status = appeal.status
    to_status = None
    if route.needs_triage and appeal.kind == "appeal" and appeal.status in ("received", "returned"):
        to_status = "triaged"
        appeal.status = "triaged"
    record_event(
        session,
        appeal,
        "classify",
        actor_type="system",
        from_status=from_status if to_status else None,
        to_status=to_status,
        note=appeal.routing_note,
        payload={
            "category": result.category,
            "confidence": appeal.confidence,
            "urgent": appeal.urgent,
            "urgency_reasons": appeal.urgency_reasons,
            "model_version": result.model_version,
            "keywords": appeal.routing_keywords,
            "suggestions": suggestions,
        },
    )


def dispatch_route(
    session: Session, appeal: Appeal, route: RouteDecision, *, actor: Any | None = None, notify_resident: bool = True
) -> bool:
    """Dispatch the appeal to the decided unit through the workflow state machine; False if it must wait."""
    if route.needs_triage or route.handler_type is None:
        return False
    if actor is None:
        actor = workflow.Actor("system", None, "system")
    workflow.dispatch(
        session,
        appeal,
        actor=actor,
        handler_type=route.handler_type,
        grid_id=route.grid_id,
        department_id=route.department_id,
        property_company_id=route.property_company_id,
        note=route.note,
        notify_resident=notify_resident,
    )
    return True


def push_urgent(
    session: Session, appeal: Appeal, *, include_handler: bool = True, exclude: tuple[int, ...] = ()
) -> list[int]:
    """Push an urgent appeal at once to its handler's staff, the grid leader and, outside working hours, the
    staff on duty; returns who was notified.

    The workflow's dispatch already pushes the handler (and the duty staff at night), so after a dispatch the
    people it told are passed as `exclude`; without a dispatch the handler is pushed too.
    """
    targets: list[Staff] = []
    handlers = handler_staff(session, appeal) if include_handler else []
    duty = on_duty_now(session, appeal, clock.now())
    for member in handlers + grid_leaders(session, appeal.grid_id) + duty:
        if member.id not in {t.id for t in targets} and member.id not in exclude:
            targets.append(member)
    reasons = "、".join(appeal.urgency_reasons) or "紧急"
    summary = f"{label_of(appeal.category or 'other')}：{appeal.text}"
    due = appeal.accept_due_at if appeal.status == "dispatched" else appeal.due_at
    for member in targets:
        notify.notify_staff(
            session,
            member.id,
            key=f"appeal-urgent:{appeal.id}:{member.id}",
            title="紧急诉求，请立即处置",
            # Field names of the staff template (services.notifications.notify): number, summary, deadline, note.
            fields={
                "number": appeal.number or str(appeal.id),
                "summary": summary[:60],
                **({"deadline": notify.template_time(due)} if due is not None else {}),
                "note": f"紧急：{reasons}",
            },
            related=("appeal", appeal.id),
            urgent=True,
        )
    return [t.id for t in targets]


# ------------------------------------------------------------------ seeding and consultations


def seed_routing(session: Session) -> int:
    """Create the default routing rules, consultation answers and duplicate policy; returns rules added."""
    from models.routing import DuplicatePolicy

    departments = {d.code: d.id for d in session.scalars(select(Department))}
    added = 0
    for category, handler_type, dept_code, note in DEFAULT_RULES:
        exists = session.scalar(
            select(RoutingRule.id).where(
                RoutingRule.category == category,
                RoutingRule.community_id.is_(None),
                RoutingRule.estate_id.is_(None),
                RoutingRule.grid_id.is_(None),
            )
        )
        if exists is not None:
            continue
        dept_id = departments.get(dept_code) if dept_code else None
        if handler_type == "department" and dept_id is None:
            continue  # the department is not set up in this deployment: such appeals go to triage
        session.add(
            RoutingRule(category=category, handler_type=handler_type, department_id=dept_id, note=note, priority=0)
        )
        added += 1
    if session.scalar(select(ConsultAnswer.id).limit(1)) is None:
        for i, (topic, keywords, answer) in enumerate(DEFAULT_CONSULT_ANSWERS):
            session.add(
                ConsultAnswer(
                    topic=topic,
                    keywords=list(keywords),
                    answer=answer,
                    priority=len(DEFAULT_CONSULT_ANSWERS) - i,
                )
            )
    if session.scalar(select(DuplicatePolicy.id).where(DuplicatePolicy.category.is_(None))) is None:
        session.add(DuplicatePolicy(category=None))
    session.flush()
    return added


def consult_answer(session: Session, text: str, *, community_id: int | None = None) -> str:
    """The best canned answer to a consultation: most keyword hits, then community-specific, then priority."""
    stmt = select(ConsultAnswer).where(ConsultAnswer.active.is_(True))
    stmt = stmt.where(or_(ConsultAnswer.community_id.is_(None), ConsultAnswer.community_id == community_id))
    best: tuple[int, int, int] | None = None
    answer = None
    for row in session.scalars(stmt):
        hits = sum(1 for kw in row.keywords or [] if kw and kw in text)
        if row.keywords and not hits:
            continue
        key = (hits, 1 if row.community_id else 0, row.priority)
        if best is None or key > best:
            best, answer = key, row.answer
    if answer is None:
        community = session.get(Community, community_id) if community_id else None
        where = community.name if community else "社区"
        answer = f"您的咨询已收到，{where}服务中心工作人员会尽快答复您。"
    return answer


# ------------------------------------------------------------------ the whole routing step


def route_appeal(
    session: Session, appeal: Appeal, result: Decision, *, actor: Any | None = None, default_community: str = ""
) -> RouteDecision:
    """Store the classification, decide the unit, dispatch it (or leave it for triage); push urgent ones.

    Every appeal leaves with a community: its place's, else its unit's, else `default_community` (the code
    of the account's default community; empty: the only community).
    """
    category = result.category
    route = decide(session, appeal, category, needs_triage=result.needs_triage and not result.is_consultation)
    if result.urgent and route.needs_triage and route.grid_id is not None and appeal.kind == "appeal":
        # An emergency must not wait in a queue: unclear ones go straight to the grid, which acts at once.
        route.needs_triage = False
        route.handler_type = "grid"
        route.reasons.append("紧急事项分类不确定，直接派网格处置")
    apply_classification(session, appeal, result, route)
    assign_community(
        session, appeal, property_company_id=route.property_company_id, default_community=default_community
    )
    route.community_id = appeal.community_id
    if appeal.kind != "appeal":
        return route  # consultations are answered, never dispatched
    # At intake the resident's answer (services.appeals.intake) already says where it went and by when.
    dispatched = dispatch_route(session, appeal, route, actor=actor, notify_resident=False)
    told = workflow.last_notified(session, appeal, "dispatch") if dispatched else []
    if appeal.urgent and (dispatched or appeal.handler_type):
        told += push_urgent(session, appeal, include_handler=not dispatched, exclude=tuple(told))
    if appeal.status == "triaged":
        # Nobody could place it: the triage/duty staff are told now and its triage clock starts.
        told += workflow.start_triage(session, appeal, reason=route.note or None)
    route.notified_staff_ids = list(dict.fromkeys(told))
    return route


# ------------------------------------------------------------------ staff corrections


# The roles that may dispatch (services.appeals.workflow.DISPATCH_ROLES) may also correct a category and re-route.
RECATEGORISE_ROLES = ("grid_leader", "community_staff", "community_secretary", "street_officer", "admin")


def can_recategorise(staff: Staff, appeal: Appeal) -> bool:
    """Grid staff of the appeal's grid, or community-level staff of its community, may re-categorise it."""
    if not staff.active or staff.role not in RECATEGORISE_ROLES:
        return False
    if staff.role == "grid_leader":
        return staff.grid_id is not None and staff.grid_id == appeal.grid_id
    if staff.role in ("street_officer", "admin"):
        return True
    return staff.community_id is not None and staff.community_id == appeal.community_id


def recategorise(
    session: Session, appeal: Appeal, new_category: str, *, staff_id: int, note: str | None = None
) -> Appeal:
    """A staff correction: change the category, re-route if not yet accepted, keep a labelled example."""
    from models.routing import LabelledExample
    from nlp.taxonomy import CODES
    from services.errors import Conflict, DomainError, Forbidden

    if new_category not in CODES:
        raise DomainError(f"未知的类别 {new_category!r}", code="bad_category", details={"allowed": list(CODES)})
    staff = session.get(Staff, staff_id)
    if staff is None or not can_recategorise(staff, appeal):
        raise Forbidden("您不能修改这件诉求的类别")
    if appeal.kind != "appeal":
        raise Conflict("咨询类诉求已直接答复，无需派单")
    if appeal.status not in NOT_YET_ACCEPTED:
        raise Conflict(f"诉求当前为 {appeal.status}，只有尚未签收的诉求可以改派")
    old = appeal.category
    if old == new_category:
        raise Conflict(f"诉求已经是 {new_category} 类别")
    appeal.category = new_category
    record_event(
        session,
        appeal,
        "recategorise",
        actor_type="staff",
        actor_id=staff.id,
        note=note,
        payload={"from": old, "to": new_category},
    )
    session.add(
        LabelledExample(
            text=appeal.text,
            label=new_category,
            source="staff_correction",
            appeal_id=appeal.id,
            staff_id=staff.id,
        )
    )
    session.flush()
    route = decide(session, appeal, new_category, why=f"工作人员改为 {new_category}")
    appeal.routing_note = (f"{appeal.routing_note or ''}；改派：{route.note}")[-500:]
    entered_triage = appeal.status != "triaged"
    if route.needs_triage or appeal.status == "dispatched":
        # Back to triage first: the unit it was sent to has not accepted it, and the state machine dispatches
        # only from received / triaged / returned (a new dispatch starts a new reminder round).
        record_event(
            session, appeal, "classify", actor_type="staff", actor_id=staff.id, from_status=appeal.status,
            to_status="triaged", note=route.note, payload={"category": new_category, "confidence": 1.0,
            "urgent": appeal.urgent, "urgency_reasons": appeal.urgency_reasons,
            "model_version": "staff", "keywords": []},
        )  # fmt: skip
        appeal.status = "triaged"
    if route.needs_triage:
        if entered_triage and appeal.status == "triaged":
            workflow.start_triage(session, appeal, reason=route.note or None)
        return appeal
    dispatch_route(session, appeal, route, actor=workflow.Actor("staff", staff.id, staff.role))
    return appeal


def export_labelled_examples(session: Session) -> list[tuple[str, str]]:
    """(text, label) pairs for `hongguan nlp train`: the latest label per appeal, plus free examples."""
    from models.routing import LabelledExample

    latest: dict[object, tuple[str, str]] = {}
    for row in session.scalars(select(LabelledExample).order_by(LabelledExample.id)):
        key: object = ("appeal", row.appeal_id) if row.appeal_id is not None else ("row", row.id)
        latest[key] = (row.text, row.label)
    return list(latest.values())
