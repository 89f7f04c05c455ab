"""services.organisation.org_import: CSV upserts by natural key, idempotent re-runs, line-numbered refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Building, Community, Department, Estate, Grid, PropertyCompany, QRScene, Staff
from services.organisation import residents
from services.organisation.org_import import OrgImportError, import_csv

BOX = json.dumps(
    {
        "type": "Polygon",
        "coordinates": [[[120.80, 31.40], [120.81, 31.40], [120.81, 31.41], [120.80, 31.41], [120.80, 31.40]]],
    }
)

WKT = "POLYGON ((120.81 31.40, 120.82 31.40, 120.82 31.41, 120.81 31.41, 120.81 31.40))"
GRIDS = "code,name,community_code,boundary\n"


def _csv(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def structure(tmp_path, session):
    """Import a whole second community: every kind, in dependency order."""
    files = {
        "communities": "code,name,street\nxinghai,星海社区,湖东街道\n",
        "grids": f'{GRIDS}XH1,星海一网格,xinghai,"{BOX.replace(chr(34), chr(34) * 2)}"\n'
        f'XH2,星海二网格,xinghai,"{WKT}"\n',
        "property_companies": "code,name\nPC-HX,海星物业\n",
        "estates": "code,name,community_code,property_company_code\nE-HX,海星苑,xinghai,PC-HX\n",
        "buildings": "estate_code,name,grid_code\nE-HX,1幢,XH1\nE-HX,2幢,XH2\n",
        "departments": "code,name,kind\nwater,自来水公司,enterprise\n",
        "staff": "name,role,community_code,grid_code,department_code,property_company_code,openid,phone\n"
        "陈网格,grid_worker,,XH1,,,o-staff-xh1,13800000001\n"
        "水务值班,department_staff,xinghai,,water,,,\n",
        "qr_scenes": "scene,community_code,grid_code,estate_code,building,label\nb-hx-2,xinghai,,E-HX,2幢,海星苑2幢\n",
    }
    reports = {}
    for kind, text in files.items():
        reports[kind] = import_csv(session, kind, _csv(tmp_path, f"{kind}.csv", text), progress=False)
    session.commit()
    return files, reports


def test_imports_every_kind(session, structure):
    _, reports = structure
    assert {k: r.created for k, r in reports.items()} == {
        "communities": 1, "grids": 2, "property_companies": 1, "estates": 1, "buildings": 2, "departments": 1,
        "staff": 2, "qr_scenes": 1,
    }  # fmt: skip
    estate = session.scalar(select(Estate).where(Estate.code == "E-HX"))
    company = session.scalar(select(PropertyCompany).where(PropertyCompany.code == "PC-HX"))
    assert estate.property_company_id == company.id
    worker = session.scalar(select(Staff).where(Staff.openid == "o-staff-xh1"))
    assert worker.grid_id == session.scalar(select(Grid.id).where(Grid.code == "XH1"))
    assert worker.community_id == session.scalar(select(Community.id).where(Community.code == "xinghai"))
    scene = session.scalar(select(QRScene).where(QRScene.scene == "b-hx-2"))
    assert scene.grid_id == session.scalar(select(Grid.id).where(Grid.code == "XH2"))
    # Imported boundaries work for location binding (GeoJSON and WKT alike).
    assert residents.find_grid(session, 31.405, 120.805).code == "XH1"
    assert residents.find_grid(session, 31.405, 120.815).code == "XH2"


def test_reimport_is_idempotent_and_updates_changed_rows(session, tmp_path, structure):
    files, _ = structure
    before = {m: _count(session, m) for m in (Community, Grid, Estate, Building, Department, Staff, QRScene)}
    for kind, text in files.items():
        report = import_csv(session, kind, _csv(tmp_path, f"again-{kind}.csv", text), progress=False)
        assert (report.created, report.updated) == (0, 0)
        assert report.unchanged == report.rows
    assert {m: _count(session, m) for m in before} == before
    renamed = import_csv(
        session,
        "departments",
        _csv(tmp_path, "d.csv", "code,name,kind\nwater,苏州自来水,enterprise\n"),
        progress=False,
    )
    assert (renamed.created, renamed.updated) == (0, 1)
    assert session.scalar(select(Department.name).where(Department.code == "water")) == "苏州自来水"


def test_bad_rows_are_reported_with_line_numbers_and_nothing_is_written(session, tmp_path, org):
    text = (
        "code,name,community_code,property_company_code\n"
        "E-OK,好小区,jinji-lake,PC-LH\n"
        "E-BAD,坏小区,no-such-community,\n"
        ",无编号小区,jinji-lake,\n"
        "E-BAD2,另一个,jinji-lake,NOPE\n"
    )
    with pytest.raises(OrgImportError) as info:
        import_csv(session, "estates", _csv(tmp_path, "estates.csv", text), progress=False)
    err = info.value
    # Every bad line is in the message (what the CLI prints), not only the first.
    assert err.message.splitlines() == [
        "estates: 3 bad line(s), nothing was imported:",
        "  line 3: unknown community 'no-such-community'",
        "  line 4: column 'code' is required",
        "  line 5: unknown property company 'NOPE'",
    ]
    assert [d["line"] for d in err.details] == [3, 4, 5]
    assert "column 'code' is required" in err.details[1]["message"]
    session.rollback()
    assert session.scalar(select(Estate).where(Estate.code == "E-OK")) is None


def test_a_file_with_many_bad_lines_lists_up_to_the_limit(session, tmp_path, org):
    from services.organisation.org_import import MAX_REPORTED_ERRORS

    bad = MAX_REPORTED_ERRORS + 7
    text = "code,name,community_code\n" + "".join(f"E{i},小区{i},nowhere\n" for i in range(bad))
    with pytest.raises(OrgImportError) as info:
        import_csv(session, "estates", _csv(tmp_path, "estates.csv", text), progress=False)
    lines = info.value.message.splitlines()
    assert lines[0] == f"estates: {bad} bad line(s), nothing was imported:"
    assert lines[1] == "  line 2: unknown community 'nowhere'"
    assert lines[MAX_REPORTED_ERRORS] == f"  line {MAX_REPORTED_ERRORS + 1}: unknown community 'nowhere'"
    assert lines[-1] == "  … and 7 more bad line(s) not listed"
    assert len(info.value.details) == MAX_REPORTED_ERRORS


def test_the_import_command_prints_every_bad_line(app, session, tmp_path, org):
    from cli import main

    text = "code,name,community_code\nE-A,甲,nowhere\nE-B,乙,jinji-lake\nE-C,丙,elsewhere\n"
    result = app.test_cli_runner().invoke(main, ["import", "estates", str(_csv(tmp_path, "e.csv", text))])
    assert result.exit_code == 1
    assert "line 2: unknown community 'nowhere'" in result.output
    assert "line 4: unknown community 'elsewhere'" in result.output
    assert session.scalar(select(Estate).where(Estate.code == "E-B")) is None


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("grids", GRIDS + "X,叉,jinji-lake,{not json\n", "neither GeoJSON nor WKT"),
        ("grids", GRIDS + "X,叉,jinji-lake,POINT (1 2)\n", "must be a Polygon"),
        ("grids", GRIDS + 'X,叉,jinji-lake,"POLYGON ((0 0, 1 1, 1 0, 0 1, 0 0))"\n', "invalid"),
        ("staff", "name,role\n某人,boss\n", "role must be one of"),
        ("staff", "name,role\n网格员,grid_worker\n", "needs grid_code"),
        ("departments", "code,name,kind\nx,某部门,alien\n", "kind must be one of"),
        ("buildings", "estate_code,name,grid_code\nE-LZ,9幢,G9\n", "unknown grid 'G9'"),
        ("communities", "code,name\na,b,c\n", "more cells than header columns"),
    ],
)  # fmt: skip
def test_row_validation_messages(session, tmp_path, org, kind, text, message):
    with pytest.raises(OrgImportError) as info:
        import_csv(session, kind, _csv(tmp_path, f"{kind}.csv", text), progress=False)
    assert info.value.details[0]["line"] == 2
    assert message in info.value.details[0]["message"]


def test_file_level_errors(session, tmp_path):
    with pytest.raises(OrgImportError, match="unknown kind"):
        import_csv(session, "planets", _csv(tmp_path, "p.csv", "code\n"), progress=False)
    with pytest.raises(OrgImportError, match="not UTF-8"):
        import_csv(session, "communities", _csv(tmp_path, "gbk.csv", "code,name\nc,社区\n", "gbk"), progress=False)
    with pytest.raises(OrgImportError, match="empty file"):
        import_csv(session, "communities", _csv(tmp_path, "empty.csv", ""), progress=False)


def test_excel_bom_and_progress_bar(session, tmp_path, capsys):
    path = tmp_path / "bom.csv"
    path.write_bytes("code,name\nbom,带BOM的社区\n".encode("utf-8-sig"))
    report = import_csv(session, "communities", path, progress=True)
    assert report.created == 1
    assert session.scalar(select(Community.name).where(Community.code == "bom")) == "带BOM的社区"
    assert "import communities" in capsys.readouterr().err  # tqdm draws on stderr
