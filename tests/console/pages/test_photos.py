"""Photos from the console: staff upload a scene photo to an appeal or with a 代录, and only staff who may see the
appeal are served it."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jobs.outbox import commit_and_enqueue
from models.appeal import Appeal, AppealAttachment
from services.appeals import workflow
from tests.console.pages.conftest import csrf_of

# A real (1×1) PNG padded past the app-wide 64 KB body limit, as a phone photo is.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
) + b"\x00" * 200_000


def _dispatched(app: Flask, session: Session, make_appeal: Callable[..., Appeal], building: str = "E-LZ-1") -> Appeal:
    appeal = make_appeal(building=building)
    workflow.dispatch(session, appeal, actor=workflow.SYSTEM, handler_type="grid", grid_id=appeal.grid_id)
    with app.app_context():
        commit_and_enqueue(session)
    return appeal


def _attachments(session: Session, appeal: Appeal) -> list[AppealAttachment]:
    session.rollback()  # a fresh read: the pages committed in their own sessions
    return list(session.scalars(select(AppealAttachment).where(AppealAttachment.appeal_id == appeal.id)))


def test_a_grid_worker_uploads_a_scene_photo_and_only_staff_in_scope_see_it(
    app: Flask, session: Session, browser_for: Any, make_appeal: Callable[..., Appeal]
) -> None:
    appeal = _dispatched(app, session, make_appeal)
    worker = browser_for("g1_worker")
    html = worker.get(f"/console/appeals/{appeal.public_id}").get_data(as_text=True)
    assert 'id="do-attach"' in html
    resp = worker.post(
        f"/console/appeals/{appeal.public_id}/attach",
        data={"csrf_token": csrf_of(html), "note": "车库入口积水", "photo": (io.BytesIO(PNG), "scene.png")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 303, resp.get_data(as_text=True)
    [photo] = _attachments(session, appeal)
    assert photo.kind == "image"
    assert photo.media_id.startswith("local:")
    assert photo.added_by_id is not None

    page = worker.get(f"/console/appeals/{appeal.public_id}").get_data(as_text=True)
    src = f"/console/appeals/{appeal.public_id}/photos/{photo.id}"
    assert f'<img src="{src}"' in page
    assert "车库入口积水" in page
    served = worker.get(src)
    assert served.status_code == 200
    assert served.mimetype == "image/png"
    assert served.data == PNG
    assert "no-store" in served.headers["Cache-Control"]
    served.close()
    assert browser_for("g3_leader").get(src).status_code == 403  # another grid's appeal, by URL


def test_a_file_that_is_not_a_photo_is_refused_in_chinese_and_nothing_is_attached(
    app: Flask, session: Session, browser_for: Any, make_appeal: Callable[..., Appeal]
) -> None:
    appeal = _dispatched(app, session, make_appeal)
    worker = browser_for("g1_worker")
    token = csrf_of(worker.get(f"/console/appeals/{appeal.public_id}").get_data(as_text=True))
    resp = worker.post(
        f"/console/appeals/{appeal.public_id}/attach",
        data={"csrf_token": token, "photo": (io.BytesIO(b"<svg onload='alert(1)'/>"), "photo.png")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422
    assert "只能上传 JPEG、PNG 或 WebP 格式的照片" in resp.get_data(as_text=True)
    assert _attachments(session, appeal) == []


def test_only_photo_forms_take_bodies_past_the_app_wide_limit(
    app: Flask, session: Session, browser_for: Any, make_appeal: Callable[..., Appeal]
) -> None:
    appeal = _dispatched(app, session, make_appeal)
    worker = browser_for("g1_worker")
    token = csrf_of(worker.get(f"/console/appeals/{appeal.public_id}").get_data(as_text=True))
    big_note = worker.post("/console/notices", data={"csrf_token": token, "body": "长" * 100_000})
    assert big_note.status_code == 413


def test_a_patrol_report_is_filed_with_its_photo_and_a_bad_photo_files_nothing(
    session: Session, browser_for: Any, org: Any, routed: None
) -> None:
    worker = browser_for("g1_worker")
    form = worker.get("/console/intake").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in form
    fields = {
        "csrf_token": csrf_of(form), "channel": "patrol", "building_id": str(org.buildings["E-LZ-1"].id),
        "text": "巡查发现1幢东侧消防通道被电动车堵住",
    }  # fmt: skip
    before = session.scalar(select(func.count()).select_from(Appeal))
    bad = worker.post(
        "/console/intake", data={**fields, "photo": (io.BytesIO(b"MZ\x90\x00 an executable"), "a.jpg")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert bad.status_code == 422
    assert "只能上传 JPEG、PNG 或 WebP 格式的照片" in bad.get_data(as_text=True)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Appeal)) == before  # nothing half-filed

    good = worker.post(
        "/console/intake", data={**fields, "photo": (io.BytesIO(PNG), "patrol.png")}, content_type="multipart/form-data"
    )
    assert good.status_code == 303, good.get_data(as_text=True)
    session.rollback()
    appeal = session.scalar(select(Appeal).order_by(Appeal.id.desc()))
    assert appeal is not None
    assert appeal.channel == "patrol"
    [photo] = _attachments(session, appeal)
    served = worker.get(f"/console/appeals/{appeal.public_id}/photos/{photo.id}")
    assert served.data == PNG
    served.close()
