"""What every console page shares: the blueprint, the signed-in staff member, CSRF, security headers, errors.

Pages are server-rendered (Jinja) with htmx for polling; no inline script or style, so the Content-Security-Policy
allows only this origin. A browser session is a random token in an HttpOnly, SameSite=Lax cookie (Secure unless
HONGGUAN_CONSOLE_COOKIE_SECURE is off for the plain-HTTP dev server), checked against `console_session` on every
request; forms carry a CSRF token (Flask-WTF).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, current_app, g, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException

from infra import clock
from infra.web import db_session, get_redis
from models.staff import Staff
from services.console import audit, sessions
from services.errors import DomainError

log = logging.getLogger(__name__)

bp = Blueprint(
    "console_pages",
    __name__,
    url_prefix="/console",
    template_folder="../templates",
    static_folder="../static",
    static_url_path="/static",
)
csrf = CSRFProtect()

SESSION_COOKIE = "hg_console"
QR_COOKIE = "hg_console_qr"
COOKIE_PATH = "/console"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

ROLE_LABELS = {
    "grid_worker": "网格员",
    "grid_leader": "网格长",
    "community_staff": "社区工作人员",
    "community_secretary": "社区书记",
    "street_officer": "街道干部",
    "department_staff": "部门工作人员",
    "property_staff": "物业工作人员",
    "admin": "管理员",
    "member_unit": "共建单位",
}

F = TypeVar("F", bound=Callable[..., Any])

# Forms that carry a photo may be larger than the app-wide body limit (the webhook's and the APIs' 64 KB).
PHOTO_FORMS = {"console_pages.appeal_action", "console_pages.intake_submit"}
PHOTO_FORM_LIMIT = 6 * 1024 * 1024  # one photo (services.appeals.photos.MAX_PHOTO_BYTES) and the form around it

# A member unit's 兼职委员 (role member_unit) sees only the pages opened to units (`open_to_units`): the unit's
# resources, orders, projects and evaluations, and its own sessions. Every other page refuses it with a 403 page.
UNIT_ROLE = "member_unit"
UNIT_VIEWS: set[Callable[..., Any]] = set()
UNIT_REFUSAL = "共建单位账号只能办理本单位的资源、订单、项目和评价，不能查看这个页面。"


class PageError(HTTPException):
    """A refusal shown as a Chinese error page with its status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.code = status
        self.message = message


def current_staff() -> Staff | None:
    """The staff member signed in on this browser (None when not signed in or the session ended)."""
    if "console_staff" in g:
        return g.console_staff
    token = request.cookies.get(SESSION_COOKIE, "")
    found = sessions.resolve(db_session(), token, idle=timedelta(seconds=_setting("CONSOLE_SESSION_IDLE")))
    g.console_session, g.console_staff = found if found is not None else (None, None)
    return g.console_staff


def signed_in(view: F) -> F:
    """Send a browser that is not signed in to the sign-in page (the page it wanted comes back afterwards)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        member = current_staff()
        if member is None:
            db_session().rollback()
            return redirect(url_for("console_pages.sign_in", next=request.full_path.rstrip("?")))
        if member.role == UNIT_ROLE and view not in UNIT_VIEWS:
            raise PageError(403, UNIT_REFUSAL)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def open_to_units(view: F) -> F:
    """Let a member unit's login use this page too (put it under `signed_in`)."""
    UNIT_VIEWS.add(view)
    return view


def home_of(member: Staff | None) -> str:
    """Where a staff member lands after signing in: a member unit on its orders, everyone else the inbox."""
    if member is not None and member.role == UNIT_ROLE:
        return url_for("console_pages.cob_orders")
    return url_for("console_pages.inbox")


def staff() -> Staff:
    """The signed-in staff member of a `signed_in` view."""
    member = current_staff()
    if member is None:  # pragma: no cover - `signed_in` runs first
        raise PageError(401, "请先登录")
    return member


def _setting(name: str) -> int:
    return int(current_app.config[name])


def cookie_secure() -> bool:
    """Whether console cookies carry Secure (off only on the plain-HTTP development server)."""
    return bool(current_app.config.get("CONSOLE_COOKIE_SECURE", True))


def set_cookie(response: Response, name: str, value: str, *, max_age: int) -> None:
    """Set a console cookie: HttpOnly, SameSite=Lax, Secure (unless the dev setting is off), path /console."""
    response.set_cookie(
        name, value, max_age=max_age, path=COOKIE_PATH, secure=cookie_secure(), httponly=True, samesite="Lax"
    )


def start_session(staff_member: Staff, method: str, target: str) -> Response:
    """Start a server-side session for this browser, audit it, commit, and go to `target`."""
    session = db_session()
    token, row = sessions.start(
        session,
        staff_member,
        method=method,
        user_agent=request.headers.get("User-Agent", ""),
        idle=timedelta(seconds=_setting("CONSOLE_SESSION_IDLE")),
        absolute=timedelta(seconds=_setting("CONSOLE_SESSION_ABSOLUTE")),
    )
    audit.record(session, staff_id=staff_member.id, action="sign_in", object_type="console_session",
                 object_id=row.id, detail={"method": method})  # fmt: skip
    session.commit()
    response = redirect(safe_next(target, staff_member))
    set_cookie(response, SESSION_COOKIE, token, max_age=_setting("CONSOLE_SESSION_ABSOLUTE"))
    response.delete_cookie(QR_COOKIE, path=COOKIE_PATH)
    return response


def safe_next(target: str | None, member: Staff | None = None) -> str:
    """Only a path inside the console is a place to return to (no open redirect); else the member's home."""
    if target and target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return home_of(member)


def within_sign_in_rate() -> bool:
    """Count a sign-in attempt of this client address; False past HONGGUAN_CONSOLE_SIGNIN_PER_MINUTE."""
    minute = int(clock.now().timestamp() // 60)
    key = f"console:signin:{request.remote_addr or '-'}:{minute}"
    try:
        pipe = get_redis().pipeline()
        pipe.incr(key)
        pipe.expire(key, 120)
        count = int(pipe.execute()[0])
    except RedisError:  # Redis down: sign-in still works; the single-use, short-lived grants remain the guard
        log.warning("sign-in rate limit unavailable (Redis down)")
        return True
    return count <= _setting("CONSOLE_SIGNIN_PER_MINUTE")


def record(action: str, object_type: str, object_id: str | int | None, **detail: Any) -> None:
    """Audit a state change made by the signed-in staff member (in the request's transaction)."""
    audit.record(db_session(), staff_id=staff().id, action=action, object_type=object_type,
                 object_id=object_id, detail=detail)  # fmt: skip


def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """Render a console template with the signed-in staff member."""
    return render_template(template, me=g.get("console_staff"), role_labels=ROLE_LABELS, **context), status


def local(value: datetime | None) -> str:
    """A time as Beijing time for people (YYYY-MM-DD HH:MM)."""
    if value is None:
        return "—"
    return value.astimezone(clock.LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def local_iso(value: str | None) -> str:
    """An ISO timestamp from the event log as Beijing time for people."""
    return local(datetime.fromisoformat(value)) if value else "—"


def time_left(due: datetime | None) -> str:
    """Time left until a deadline, or how long it is overdue, in Chinese."""
    if due is None:
        return "无时限"
    delta = due - clock.now()
    minutes = int(abs(delta.total_seconds()) // 60)
    text = (
        f"{minutes // 1440}天{minutes % 1440 // 60}小时" if minutes >= 1440 else f"{minutes // 60}小时{minutes % 60}分"
    )
    return f"剩余 {text}" if delta.total_seconds() >= 0 else f"已超时 {text}"


ERROR_TITLES = {
    400: "请求有误",
    401: "请先登录",
    403: "无权访问",
    404: "没有找到",
    405: "不支持的操作",
    409: "操作与当前状态冲突",
    413: "内容太大",
    422: "填写有误",
    429: "尝试次数过多",
}
ERROR_TEXTS = {
    400: "请求格式不正确，请返回重试。",
    403: "您没有权限查看或处理这项内容。",
    404: "您要找的页面或诉求不存在，或不在您的管辖范围内。",
    405: "这个地址不支持该操作。",
    413: "提交的内容超过了大小限制。",
    429: "登录尝试过于频繁，请一分钟后再试。",
}


def error_page(status: int, message: str | None = None) -> tuple[str, int]:
    """A Chinese error page for a refused request."""
    db_session().rollback()
    title = ERROR_TITLES.get(status, "请求未能完成")
    return page("console/error.html", status, title=title, message=message or ERROR_TEXTS.get(status, title))


@bp.errorhandler(CSRFError)
def _csrf_error(e: CSRFError) -> tuple[str, int]:
    return error_page(400, "表单已过期或来源无法验证（CSRF 校验失败）。请刷新页面后重新提交。")


@bp.errorhandler(PageError)
def _page_error(e: PageError) -> tuple[str, int]:
    return error_page(e.code or 400, e.message)


@bp.errorhandler(DomainError)
def _domain_error(e: DomainError) -> tuple[str, int]:
    return error_page(e.status, e.message)


@bp.errorhandler(HTTPException)
def _http_error(e: HTTPException) -> tuple[str, int]:
    return error_page(e.code or 500)


@bp.before_request
def _protect_forms() -> None:
    """Every state-changing request from the pages carries a valid CSRF token."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()


def _security_headers(response: Response) -> Response:
    if request.path.startswith("/console") and not request.path.startswith("/console/api"):
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        if not request.path.startswith("/console/static"):
            response.headers["Cache-Control"] = "no-store"
    return response


@bp.url_value_preprocessor
def _allow_photo_forms(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    """Raise the body limit for the forms that upload a photo, before CSRF protection reads the form."""
    if endpoint in PHOTO_FORMS:
        request.max_content_length = PHOTO_FORM_LIMIT


def media_dir() -> Path:
    """Where the console keeps uploaded photos: the instance's media folder."""
    return Path(current_app.instance_path) / "media"


def install(app: Flask) -> None:
    """CSRF (checked only where the pages ask for it), cookie flags, the template filters, security headers."""
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # the webhook and JSON APIs use no browser cookies
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", int(app.config["CONSOLE_SESSION_ABSOLUTE"]))
    # Flask's own session cookie only carries the CSRF secret of the console's forms.
    app.config.update(
        SESSION_COOKIE_NAME="hg_console_csrf",
        SESSION_COOKIE_PATH=COOKIE_PATH,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(app.config.get("CONSOLE_COOKIE_SECURE", True)),
    )
    csrf.init_app(app)
    app.jinja_env.filters["local"] = local
    app.jinja_env.filters["time_left"] = time_left
    app.jinja_env.filters["local_iso"] = local_iso
    app.after_request(_security_headers)
