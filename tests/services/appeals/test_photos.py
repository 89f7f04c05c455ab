"""Photos kept with appeals: only real pictures, by content; stored once, atomically; served only from the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.appeal import AppealAttachment
from services.appeals.photos import MAX_PHOTO_BYTES, PhotoRefused, kind_of, save_photo, stored_file
from services.errors import NotFound

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 64


def test_the_kind_comes_from_the_first_bytes_not_the_name() -> None:
    assert kind_of(PNG) == "png"
    assert kind_of(JPEG) == "jpg"
    assert kind_of(WEBP) == "webp"
    assert kind_of(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>") is None  # could carry script
    assert kind_of(b"GIF89a") is None


def test_a_photo_is_stored_once_by_its_content(tmp_path: Path) -> None:
    first = save_photo(tmp_path, PNG)
    again = save_photo(tmp_path, PNG)
    assert first == again
    assert first.endswith(".png")
    assert (tmp_path / first).read_bytes() == PNG
    assert [p.name for p in tmp_path.iterdir()] == [first]  # no temporary file left behind


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "photo_empty"),
        (b"%PDF-1.7 not a photo", "photo_kind"),
        (PNG + b"\x00" * MAX_PHOTO_BYTES, "photo_too_large"),
    ],
)
def test_what_is_not_a_photo_we_keep_is_refused_in_chinese(tmp_path: Path, data: bytes, code: str) -> None:
    with pytest.raises(PhotoRefused) as refused:
        save_photo(tmp_path / "media", data)
    assert refused.value.code == code
    assert refused.value.status == 422
    assert not (tmp_path / "media").exists() or not any((tmp_path / "media").iterdir())


def test_only_files_of_the_store_are_served(tmp_path: Path) -> None:
    name = save_photo(tmp_path, JPEG)
    path, mimetype = stored_file(tmp_path, AppealAttachment(media_id=f"local:{name}"))
    assert path == tmp_path / name
    assert mimetype == "image/jpeg"
    for media_id in ("wx-media-123", "local:../../etc/passwd", f"local:{'0' * 64}.png"):
        with pytest.raises(NotFound):
            stored_file(tmp_path, AppealAttachment(media_id=media_id))
