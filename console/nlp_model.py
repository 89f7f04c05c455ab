"""The classification model in service, for staff (/console/api/nlp/model): which version routed today's appeals.

Every appeal also keeps the version that classified it (`model_version` in the appeal detail); this endpoint says
which one the web process serves now, and whether it is the shipped model or a community's installed file.
"""

from __future__ import annotations

from typing import Any, Literal

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel

from console.auth import STAFF_BEARER, current_staff
from infra.web import db_session
from miniapp_api.schemas import ErrorBody as ErrorOut
from nlp import classifier

bp = APIBlueprint(
    "console_nlp",
    __name__,
    url_prefix="/console/api",
    abp_tags=[Tag(name="console-nlp", description="the classification model in service")],
    abp_security=STAFF_BEARER,
)


class ModelOut(BaseModel):
    """The model in service."""

    version: str
    source: Literal["shipped", "file"]  # the shipped community model, or the installed HONGGUAN_NLP_MODEL file
    categories: list[str]
    threshold: float  # confidence below which an appeal goes to triage with two suggestions


@bp.get("/nlp/model", responses={200: ModelOut, 401: ErrorOut})
def model_in_service() -> dict[str, Any]:
    """Version, source, categories and triage threshold of the classification model in service."""
    current_staff()
    db_session().commit()  # records the token's last use; ends the read transaction
    clf, source = classifier.in_service()
    return ModelOut(
        version=clf.version, source=source, categories=list(clf.labels), threshold=clf.model.threshold
    ).model_dump()
