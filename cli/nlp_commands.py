"""`hongguan nlp`: export a community's labelled appeals, train a keyword model (cross-validated against the
shipped one), evaluate, explain one decision, and put a model file in service."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.appctx import with_appcontext

if TYPE_CHECKING:
    from nlp.model import KeywordModel
    from nlp.train import Example


def _classifier(model: Path | None):
    """The classifier of a model file, or the shipped default."""
    from nlp import classifier

    return classifier.Classifier.from_file(model) if model else classifier.default_classifier()


@click.group("nlp")
def nlp_group() -> None:
    """Appeal classification: export labelled appeals, train, evaluate, explain and install keyword models."""


@nlp_group.command("export")
@click.argument("output", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--community", "community_code", default=None, help="only this community's appeals (its code)")
@with_appcontext
def export_command(output: Path, community_code: str | None) -> None:
    """Write the community's confirmed appeals as the labelled CSV that `hongguan nlp train` reads."""
    from infra.web import get_db
    from services.community_model.export import history, write_csv
    from services.errors import DomainError

    try:
        with get_db().session() as session, open(output, "w", encoding="utf-8", newline="") as fh:
            n = write_csv(history(session, community_code), fh)
            session.rollback()
    except DomainError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{n} labelled appeals written to {output}")


def _db_examples(community_code: str | None) -> list[Example]:
    """The labelled appeals of the configured database as training examples."""
    from infra.web import get_db
    from nlp.train import Example as TrainingExample
    from services.community_model.export import history
    from services.errors import DomainError

    try:
        with get_db().session() as session:
            rows = [TrainingExample(text=r.text, label=r.label) for r in history(session, community_code)]
            session.rollback()
    except DomainError as exc:
        raise click.ClickException(str(exc)) from exc
    return rows


@nlp_group.command("train")
@click.argument("csv_files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="model JSON")
@click.option(
    "--curated/--no-curated",
    default=True,
    show_default=True,
    help="include the hand-written keywords of the default community taxonomy",
)
@click.option(
    "--segmented",
    "segmented_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="a CSV whose text is already segmented with spaces (repeatable)",
)
@click.option("--from-db", is_flag=True, help="add the labelled appeals of the configured database (as `nlp export`)")
@click.option("--community", "community_code", default=None, help="with --from-db: only this community's appeals")
@click.option(
    "--cv",
    "folds",
    type=click.IntRange(min=0),
    default=0,
    help="report K-fold cross-validated macro-F1 of this recipe vs the reference model on the same rows (0: none)",
)
@click.option(
    "--against",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="with --cv: the reference model JSON (default: the shipped community model)",
)
@click.option("--version", "version", default="", help="model version (default: community-YYYY.M.D)")
@click.option("--threshold", type=float, default=None, help="confidence below which appeals go to triage")
@click.option("-C", "c", type=float, default=None, help="SVM regularisation (default: cross-validated)")
@click.option("--prune", type=float, default=None, help="drop learned weights below this (default: cross-validated)")
@click.option(
    "--ngrams",
    default="2",
    show_default=True,
    help="lengths of the character n-grams learned as '*ab*' keywords, comma-separated; 0 for none",
)
def train_command(
    csv_files: tuple[Path, ...],
    output: Path,
    curated: bool,
    segmented_files: tuple[Path, ...],
    from_db: bool,
    community_code: str | None,
    folds: int,
    against: Path | None,
    version: str,
    threshold: float | None,
    c: float | None,
    prune: float | None,
    ngrams: str,
) -> None:
    """Learn keyword weights from CSV files of `text,label` (such as `nlp export` writes) and write a model JSON."""
    from nlp import crossval, train
    from nlp.model import DEFAULT_THRESHOLD

    try:
        lengths = tuple(sorted({int(n) for n in ngrams.replace(" ", "").split(",") if n and n != "0"}))
    except ValueError as exc:
        raise click.BadParameter(f"{ngrams!r} is not a comma-separated list of lengths", param_hint="--ngrams") from exc
    if any(n < 1 for n in lengths):
        raise click.BadParameter("n-gram lengths must be positive", param_hint="--ngrams")

    if not (csv_files or segmented_files or from_db):
        raise click.UsageError("give CSV files, --segmented files or --from-db")
    try:
        examples = []
        for path in csv_files:
            examples += train.read_csv(path)
        for path in segmented_files:
            examples += train.read_csv(path, segmented=True)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    sources = [p.name for p in (*csv_files, *segmented_files)]
    if from_db:
        examples += with_appcontext(_db_examples)(community_code)
        sources.append("database" + (f" ({community_code})" if community_code else ""))
    curated_keywords = train.load_curated() if curated else None

    def recipe(rows: Sequence[Example], final: bool = False) -> KeywordModel:  # for the folds and the final model
        return train.fit(
            rows,
            curated=curated_keywords,
            c=c,
            prune=prune,
            ngrams=lengths,
            threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
            version=version or train.default_version("community" if curated else "model"),
            sources=sources if final else (),
        )

    try:
        comparison = None
        if folds:
            reference = _classifier(against)
            comparison = crossval.compare(examples, reference, recipe, folds=folds)
        model = recipe(examples, final=True)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if comparison is not None:
        click.echo(crossval.format_comparison(comparison, new_name=model.version))
        click.echo("")
        model.meta["cv_against_reference"] = {
            "folds": folds,
            "rows": comparison.new.n,
            "macro_f1": round(comparison.new.macro_f1, 4),
            "reference": comparison.reference_version,
            "reference_macro_f1": round(comparison.reference.macro_f1, 4),
        }
    model.save(output)
    n = sum(len(cat.keywords) + len(cat.curated) for cat in model.categories.values())
    click.echo(
        f"wrote {output}: version {model.version}, {len(model.labels)} categories, {n} keywords, "
        f"{len(examples)} examples, C={model.meta['C']}"
    )


@nlp_group.command("install")
@click.argument("model_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--target",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="the served model file (default: HONGGUAN_NLP_MODEL)",
)
def install_command(model_file: Path, target: Path | None) -> None:
    """Check that a model loads and classifies, then put it in service: web and workers switch within a second."""
    from infra.config import load_config
    from nlp.install import ModelRejected, install

    if target is None:
        configured = load_config()["NLP_MODEL"]  # the setting only: installing needs no application
        if not configured:
            raise click.ClickException("set HONGGUAN_NLP_MODEL to the served model file (or give --target)")
        target = Path(configured)
    try:
        model = install(model_file, target)
    except ModelRejected as exc:
        raise click.ClickException(f"refused, nothing installed: {exc}") from exc
    click.echo(f"model {model.version} ({len(model.labels)} categories) installed at {target}")


@nlp_group.command("eval")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--model",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="model JSON (default: the shipped community model)",
)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def eval_command(csv_file: Path, model: Path | None, as_json: bool) -> None:
    """Accuracy, macro-F1, per-class P/R/F1 and confusion of a model on a `text,label[,urgent]` CSV."""
    from nlp.evaluate import evaluate, format_report
    from nlp.train import read_csv

    try:
        examples = read_csv(csv_file)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if not examples:
        raise click.ClickException(f"{csv_file}: no labelled rows")
    clf = _classifier(model)
    decisions = [clf.classify(e.text) for e in examples]
    has_urgent = any(e.urgent is not None for e in examples)
    report = evaluate(
        [e.label for e in examples],
        [d.category for d in decisions],
        gold_urgent=[e.urgent for e in examples] if has_urgent else None,
        pred_urgent=[d.urgent for d in decisions] if has_urgent else None,
    )
    if as_json:
        out = report.as_json()
        out["model_version"] = clf.version
        click.echo(json.dumps(out, ensure_ascii=False, indent=1))
    else:
        click.echo(f"model {clf.version} on {csv_file}")
        click.echo(format_report(report))


@nlp_group.command("explain")
@click.argument("text")
@click.option(
    "--model",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="model JSON (default: the shipped community model)",
)
@click.option("--json", "as_json", is_flag=True, help="print the decision as JSON")
def explain_command(text: str, model: Path | None, as_json: bool) -> None:
    """Classify one message and show why."""
    decision = _classifier(model).classify(text)
    if as_json:
        click.echo(json.dumps(decision.as_dict(), ensure_ascii=False, indent=1))
        return
    click.echo(decision.explain())
    click.echo(
        f"category={decision.category} confidence={decision.confidence:.2f} "
        f"needs_triage={decision.needs_triage} consultation={decision.is_consultation} "
        f"model={decision.model_version}"
    )
    click.echo("urgency " + decision.urgency.explain())
    top = sorted(decision.scores.items(), key=lambda kv: -kv[1])[:3]
    click.echo("scores: " + ", ".join(f"{code} {score:+.2f}" for code, score in top))
