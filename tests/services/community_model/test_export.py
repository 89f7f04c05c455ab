"""The community's appeals as labelled training rows: staff corrections win, unconfirmed appeals are left out."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from cli.nlp_commands import nlp_group
from models import Appeal, Resident
from nlp.classifier import Classifier
from nlp.model import CategoryWeights, KeywordModel
from nlp.taxonomy import CODES
from nlp.train import read_csv
from services.appeals import routing, workflow
from services.appeals.intake import handle_text
from services.community_model.export import COLUMNS, ROUTED, STAFF, history
from services.errors import NotFound

# A small real model, so these tests do not move when the shipped model is retrained.
KEYWORDS = {"property": {"电梯": 3.0}, "sanitation": {"垃圾": 3.0}, "consult": {"居住证": 3.0, "怎么办理": 2.0}}
CLF = Classifier(
    KeywordModel(
        categories={c: CategoryWeights(label=c, curated=dict(KEYWORDS.get(c, {}))) for c in CODES},
        threshold=0.5,
        version="export-test",
    )
)


@pytest.fixture
def seeded(session: Session, org: Any) -> Any:
    routing.seed_routing(session)
    session.commit()
    return org


def _appeal(session: Session, org: Any, text: str, n: int) -> Appeal:
    building = org.buildings["E-LZ-1"]
    resident = Resident(openid=f"o-export-{n}", community_id=org.community.id, building_id=building.id,
                        grid_id=building.grid_id)  # fmt: skip
    session.add(resident)
    session.flush()
    appeal = handle_text(session, resident, text, classifier=CLF).appeal
    assert appeal is not None
    return appeal


@pytest.fixture
def history_rows(session: Session, seeded: Any, clock: Any) -> dict[str, Appeal]:
    """Appeals in every state the export distinguishes."""
    org = seeded
    pc = org.staff["pc_lh"]
    accepted = _appeal(session, org, "3栋电梯坏了，业主电话13812345678", 1)
    assert (accepted.category, accepted.status) == ("property", "dispatched")
    workflow.accept(session, accepted, actor=workflow.Actor("staff", pc.id, pc.role))
    corrected = _appeal(session, org, "你们能不能来看看门口那个坑", 2)
    assert corrected.status == "triaged"
    routing.recategorise(session, corrected, "municipal", staff_id=org.staff["g1_leader"].id)
    # Corrected twice before anyone accepted it: the last correction is the label.
    routing.recategorise(session, corrected, "traffic_parking", staff_id=org.staff["community_staff"].id)
    waiting = _appeal(session, org, "楼下垃圾堆了好几天", 3)  # sent to the grid, not accepted yet
    untouched = _appeal(session, org, "有点事想反映一下", 4)  # still in triage
    consultation = _appeal(session, org, "居住证怎么办理", 5)
    session.commit()
    return {"accepted": accepted, "corrected": corrected, "waiting": waiting, "untouched": untouched,
            "consultation": consultation}  # fmt: skip


def test_labels_follow_recategorisations_and_unconfirmed_appeals_are_left_out(session, seeded, history_rows) -> None:
    rows = {r.id: r for r in history(session)}
    accepted, corrected = history_rows["accepted"], history_rows["corrected"]
    assert set(rows) == {accepted.id, corrected.id}
    assert (rows[corrected.id].label, rows[corrected.id].label_source) == ("traffic_parking", STAFF)
    assert (rows[accepted.id].label, rows[accepted.id].label_source) == ("property", ROUTED)
    assert rows[accepted.id].community == seeded.community.code
    assert "13812345678" not in rows[accepted.id].text  # residents' numbers stay in the database
    assert rows[accepted.id].text.startswith("3栋电梯坏了")


def test_a_community_filter_names_an_existing_community(session, history_rows, seeded) -> None:
    assert {r.id for r in history(session, seeded.community.code)} == {
        history_rows["accepted"].id,
        history_rows["corrected"].id,
    }
    with pytest.raises(NotFound):
        list(history(session, "no-such-community"))


def test_export_command_writes_the_documented_csv_that_train_reads(app, session, history_rows, tmp_path) -> None:
    out = tmp_path / "export.csv"
    with app.app_context():
        result = CliRunner().invoke(nlp_group, ["export", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 labelled appeals written" in result.output
    with open(out, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        got = {int(r["id"]): (r["label"], r["label_source"]) for r in reader}
    assert got == {history_rows["accepted"].id: ("property", "routed"),
                   history_rows["corrected"].id: ("traffic_parking", "staff")}  # fmt: skip
    assert sorted(e.label for e in read_csv(Path(out))) == ["property", "traffic_parking"]


def test_train_from_db_adds_the_labelled_appeals_to_the_csv_rows(app, session, history_rows, tmp_path) -> None:
    base = tmp_path / "base.csv"
    base.write_text("text,label\n" + "电梯坏了没人修,property\n电梯又停了,property\n"
                    "门口乱停车,traffic_parking\n车位被占了乱停车,traffic_parking\n", encoding="utf-8")  # fmt: skip
    out = tmp_path / "own.json"
    args = ["train", str(base), "--from-db", "-o", str(out), "--no-curated", "-C", "0.5", "--prune", "0.0"]
    with app.app_context():
        result = CliRunner().invoke(nlp_group, args)
    assert result.exit_code == 0, result.output
    assert "6 examples" in result.output  # 4 from the CSV, 2 labelled appeals
    meta = KeywordModel.load(out).meta
    assert (meta["examples"], meta["sources"]) == (6, ["base.csv", "database"])
