"""`hongguan nlp`: train a keyword model, evaluate a model on labelled CSV, explain one decision."""

from __future__ import annotations

import json
from pathlib import Path

import click


def _classifier(model: Path | None):
    """The classifier of a model file, or the shipped default."""
    from nlp import classifier

    return classifier.Classifier.from_file(model) if model else classifier.default_classifier()


@click.group("nlp")
def nlp_group() -> None:
    """Appeal classification: train, evaluate and explain keyword models."""


@nlp_group.command("train")
@click.argument("csv_files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
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
@click.option("--version", "version", default="", help="model version (default: community-YYYY.M.D)")
@click.option("--threshold", type=float, default=None, help="confidence below which appeals go to triage")
@click.option("-C", "c", type=float, default=None, help="SVM regularisation (default: cross-validated)")
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
    version: str,
    threshold: float | None,
    c: float | None,
    ngrams: str,
) -> None:
    """Learn keyword weights from CSV files of `text,label` and write a model JSON."""
    from nlp import train
    from nlp.model import DEFAULT_THRESHOLD

    try:
        lengths = tuple(sorted({int(n) for n in ngrams.replace(" ", "").split(",") if n and n != "0"}))
    except ValueError as exc:
        raise click.BadParameter(f"{ngrams!r} is not a comma-separated list of lengths", param_hint="--ngrams") from exc
    if any(n < 1 for n in lengths):
        raise click.BadParameter("n-gram lengths must be positive", param_hint="--ngrams")

    examples = []
    for path in csv_files:
        examples += train.read_csv(path)
    for path in segmented_files:
        examples += train.read_csv(path, segmented=True)
    try:
        model = train.fit(
            examples,
            curated=train.load_curated() if curated else None,
            c=c,
            ngrams=lengths,
            threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
            version=version or train.default_version("community" if curated else "model"),
            sources=[p.name for p in (*csv_files, *segmented_files)],
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    model.save(output)
    n = sum(len(cat.keywords) + len(cat.curated) for cat in model.categories.values())
    click.echo(
        f"wrote {output}: version {model.version}, {len(model.labels)} categories, {n} keywords, "
        f"{len(examples)} examples, C={model.meta['C']}"
    )


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
