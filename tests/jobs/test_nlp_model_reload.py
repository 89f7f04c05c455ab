"""A model installed while the worker runs classifies the next job: no restart; /healthz and the console say which."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from bot import menu
from console.auth import issue_staff_token
from infra import clock as clock_module
from models import Appeal
from nlp import classifier
from nlp.install import install
from nlp.model import CategoryWeights, KeywordModel, load_default
from nlp.taxonomy import CODES
from wechat.chat import FakeWeChat


@pytest.fixture
def app_config(app_config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The app serves the model file under its instance folder (nothing installed there yet)."""
    return {**app_config, "NLP_MODEL": str(tmp_path / "instance" / "nlp-model.json")}


@pytest.fixture
def served(app) -> Iterator[Path]:
    """The configured model file, looked at on every classification (the production interval is a second)."""
    path = Path(app.config["NLP_MODEL"])
    classifier.configure(path, check_interval=0)
    yield path
    classifier.configure(None)


@pytest.fixture
def resident_says(app, client, clock, org):
    """Send free text as a resident (by openid) through the real webhook (AES mode)."""
    cfg = app.config

    def say(openid: str, text: str) -> None:
        fake = FakeWeChat(cfg["WECHAT_TOKEN"], cfg["WECHAT_AES_KEY"], cfg["WECHAT_APPID"], openid,
                          account_id=cfg["WECHAT_ACCOUNT_ID"])  # fmt: skip
        clock_module.advance(timedelta(seconds=1))
        params, body = fake.push(fake.command(text))
        resp = client.post(f"/wechat?{urlencode(params)}", data=body, content_type="text/xml")
        assert resp.status_code == 200
        assert fake.read_reply(resp.get_data(as_text=True))["Content"] == menu.ACK_QUEUED

    return say


def _community_model(path: Path) -> None:
    cats = {code: CategoryWeights(label=code) for code in CODES}
    cats["sanitation"].curated = {"垃圾": 3.0}
    KeywordModel(categories=cats, threshold=0.5, version="community-own-1").save(path)


def test_the_worker_classifies_with_a_model_installed_between_two_jobs(
    app, client, session, run_jobs, resident_says, served, tmp_path, org
) -> None:
    shipped = load_default().version
    auth = {"Authorization": f"Bearer {issue_staff_token(session, org.staff['community_staff'].id)}"}
    session.commit()
    assert client.get("/healthz").get_json()["nlp_model"] == shipped
    model = client.get("/console/api/nlp/model", headers=auth)
    assert model.status_code == 200
    assert (model.get_json()["version"], model.get_json()["source"]) == (shipped, "shipped")

    resident_says("oResidentModelReload0000001", "小区门口的垃圾好几天没人清理了")
    assert run_jobs() >= 1
    _community_model(tmp_path / "new.json")
    install(tmp_path / "new.json", served)  # what `hongguan nlp install` does, while this process keeps running
    resident_says("oResidentModelReload0000002", "楼下垃圾桶满了一直没人收")
    assert run_jobs() >= 1

    session.expire_all()
    first, second = session.scalars(select(Appeal).order_by(Appeal.id)).all()
    assert first.model_version == shipped
    assert (second.model_version, second.category) == ("community-own-1", "sanitation")
    assert client.get("/healthz").get_json()["nlp_model"] == "community-own-1"
    body = client.get("/console/api/nlp/model", headers=auth).get_json()
    assert (body["version"], body["source"]) == ("community-own-1", "file")
    assert "sanitation" in body["categories"]


def test_the_model_endpoint_needs_a_staff_token(client) -> None:
    assert client.get("/console/api/nlp/model").status_code == 401


def test_a_forking_worker_loads_a_new_model_in_the_parent_so_horses_inherit_it(app, served, tmp_path) -> None:
    from infra.web import get_redis
    from jobs.outbox import sweep_outbox
    from jobs.queue import QUEUES, enqueue, get_queue
    from jobs.worker import HongguanWorker

    _community_model(tmp_path / "new.json")
    install(tmp_path / "new.json", served)
    with app.app_context():
        enqueue(sweep_outbox, job_id="sweep-fork")
        worker = HongguanWorker([get_queue(q) for q in QUEUES], connection=get_redis(), app=app)
    classifier.configure(served, check_interval=3600)  # a long interval: nothing else looks at the file
    held = classifier._service.classifier  # what the process holds, read without looking at the file
    assert held is not None
    assert held.version == load_default().version
    worker.work(burst=True)
    # The horse ran in a child process; the parent looked at the file before forking it.
    assert classifier._service.classifier is not None
    assert classifier._service.classifier.version == "community-own-1"
