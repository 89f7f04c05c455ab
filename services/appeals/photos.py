"""Photos staff take on a patrol or at the scene: which files are accepted, where they are kept, how they attach.

A photo is stored once under the instance's media folder, named by its SHA-256 (the same picture uploaded twice is
one file), and attached to the appeal as `media_id = "local:<name>"`; only staff who may see the appeal are served
it. The kind is read from the file's first bytes, never from its name or the browser's Content-Type.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from sqlalchemy.orm import Session

from models.appeal import Appeal, AppealAttachment
from services.appeals.records import Actor
from services.appeals.workflow import add_attachment
from services.errors import DomainError, NotFound

MAX_PHOTO_BYTES = 5 * 1024 * 1024  # a phone photo; larger ones are refused with a message, not cut
LOCAL = "local:"
_NAME = re.compile(r"[0-9a-f]{64}\.(jpg|png|webp)")
MIMETYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


class PhotoRefused(DomainError):
    """The upload is not a photo we keep (wrong kind, empty, too large)."""

    status = 422


def kind_of(data: bytes) -> str | None:
    """The photo's file extension from its magic bytes (JPEG, PNG, WebP), or None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def save_photo(directory: Path, data: bytes) -> str:
    """Keep the photo under `directory` (atomically, by content hash) and return its stored name."""
    if not data:
        raise PhotoRefused("请选择一张照片。", code="photo_empty")
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoRefused(f"照片不能超过 {MAX_PHOTO_BYTES // (1024 * 1024)} MB。", code="photo_too_large")
    ext = kind_of(data)
    if ext is None:
        raise PhotoRefused("只能上传 JPEG、PNG 或 WebP 格式的照片。", code="photo_kind")
    name = f"{hashlib.sha256(data).hexdigest()}.{ext}"
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)  # readers never see half a file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return name


def attach_photo(
    session: Session, appeal: Appeal, *, actor: Actor, directory: Path, data: bytes, note: str | None = None
) -> AppealAttachment:
    """Store a staff photo and attach it to the appeal (scope checked by the workflow's `add_attachment`)."""
    name = save_photo(directory, data)
    return add_attachment(session, appeal, actor=actor, kind="image", media_id=LOCAL + name, note=note)


def stored_file(directory: Path, attachment: AppealAttachment) -> tuple[Path, str]:
    """The file and MIME type of an attachment kept here; NotFound for WeChat media or a missing file."""
    name = (attachment.media_id or "").removeprefix(LOCAL)
    if not (attachment.media_id or "").startswith(LOCAL) or not _NAME.fullmatch(name):
        raise NotFound("这个附件没有保存在本系统。")
    path = directory / name
    if not path.is_file():
        raise NotFound("照片文件不存在。")
    return path, MIMETYPES[name.rsplit(".", 1)[1]]
