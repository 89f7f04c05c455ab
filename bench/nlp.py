"""NLP benchmark: the shipped community model on real residents' letters and on the community test set, the
routing trade-off of its triage threshold, and the keyword model vs a TF-IDF + LinearSVC baseline on tipdm 2020 C.

The real letters (`../shared/data/real/`) and tipdm's `eval_*` files are read at run time to report, never to
train or choose anything; tipdm models train on its `train_*` files only.
The urgency detector is scored on its own labelled sets (`nlp/data/urgency_test.csv`, scored only to report).
Run: .venv/bin/python bench/nlp.py [--data ../shared/data/tipdm2020c] [--real ../shared/data/real] [--no-tipdm]
     [--urgency-only]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jieba

from nlp import classifier, tokenize, train, urgency_train
from nlp.classifier import Classifier, Decision, default_classifier
from nlp.evaluate import evaluate
from nlp.model import KeywordModel
from nlp.taxonomy import OTHER
from nlp.urgency import DANGERS, DISCOUNTS, assess

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "tipdm2020c"
DEFAULT_REAL = REPO.parent / "shared" / "data" / "real"
REAL_FILE = "jiamusi_zmhd_2013_2019.csv"
COMMUNITY_TEST = REPO / "nlp" / "data" / "community_test.csv"
# The community categories that count as right for each coarse bucket of the department that answered a real
# letter (the table in ../shared/data/real/README.md); letters of other buckets are not scored.
BUCKETS: dict[str, frozenset[str]] = {
    "住房/物业": frozenset({"property", "consult"}),
    "城管/市容环卫": frozenset({"sanitation", "city_order"}),
    "市政/城建": frozenset({"municipal"}),
    "市政(水电气热)": frozenset({"municipal", "property"}),
    "交通": frozenset({"traffic_parking"}),
    "治安": frozenset({"public_security", "consult"}),
    "环保(含噪音)": frozenset({"noise", "sanitation"}),
    "民生保障": frozenset({"social_welfare", "consult"}),
    "卫生": frozenset({"health"}),
    "教育文体": frozenset({"education_culture"}),
}


def load_training(data: Path) -> list[train.Example]:
    """train_raw plus the segmented rows that are not the same message as a train_raw row."""
    raw = train.read_csv(data / "train_raw.csv")
    segmented = train.read_csv(data / "train_segmented.csv", segmented=True)
    duplicate = set()
    with open(data / "train_segmented_sources.csv", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        for row in reader:
            if len(row) > 2 and row[2].strip():
                duplicate.add(int(row[0]))
    return raw + [e for i, e in enumerate(segmented) if i not in duplicate]


def baseline(docs: list[list[str]], labels: list[str]):
    """The reference: TF-IDF (jieba words, sublinear tf, min_df=2) + LinearSVC(C=1)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    vec = TfidfVectorizer(analyzer=lambda d: d, sublinear_tf=True, min_df=2, lowercase=False)
    svm = LinearSVC(C=1.0, random_state=0).fit(vec.fit_transform(docs), labels)
    return lambda texts: list(svm.predict(vec.transform([tokenize.tokens(t) for t in texts])))


def throughput(fns: list, texts: list[str], rounds: int = 15, clock=time.perf_counter) -> list[float]:
    """Messages per second of each fn over texts: the best of interleaved rounds, since the 2 cores are shared
    and noise only ever slows a round down (the timeit convention). `clock` is wall time by default;
    `time.process_time` counts only the CPU time of this process, so it leaves out the time it waits while
    other processes run on the shared cores (but not their effect on the CPU caches)."""
    best = [0.0] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t0 = clock()
            for t in texts:
                fn(t)
            best[i] = max(best[i], len(texts) / (clock() - t0))
    return best


def speed_runs(fns: list, texts: list[str], runs: int, clock) -> tuple[float, float, list[float]]:
    """`runs` independent throughput measurements: the median run's two rates, and every run's ratio."""
    results = [throughput(fns, texts, clock=clock) for _ in range(max(1, runs))]
    ratios = [seg / cl for seg, cl in results]
    seg_rate, clf_rate = sorted(results, key=lambda r: r[0] / r[1])[len(results) // 2]
    return seg_rate, clf_rate, ratios


def cold_start(code: str, runs: int = 5) -> float:
    """Median seconds from spawning a fresh interpreter to the moment it has printed its first answer."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - t0)
        assert out.stdout.strip(), out.stderr
    return statistics.median(times)


def read_eval(path: Path) -> tuple[list[str], list[str]]:
    examples = train.read_csv(path)
    return [e.text for e in examples], [e.label for e in examples]


def urgency_tables(rounds: int = 15, everyday: list[str] | None = None) -> None:
    """Counts, recall and precision of the urgency detector on its test and training sets, recall per danger
    kind, false alarms per hard-negative kind, and what the detector costs per message."""
    test = urgency_train.shipped_set("urgency_test")
    train_set = urgency_train.shipped_set("urgency_train")
    reports = {"urgency_test.csv": urgency_train.score(test), "urgency_train.csv": urgency_train.score(train_set)}
    print("## Urgency detector")
    print()
    print("| set | n | urgent | TP | FP | FN | TN | recall | precision |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in reports.items():
        print(
            f"| {name} | {r.tp + r.fp + r.fn + r.tn} | {r.tp + r.fn} | {r.tp} | {r.fp} | {r.fn} | {r.tn} | "
            f"{r.recall:.3f} | {r.precision:.3f} |"
        )
    r = reports["urgency_test.csv"]
    print()
    print("| danger kind (urgency_test.csv) | emergencies | caught | recall |")
    print("|---|---:|---:|---:|")
    for kind, n in sorted(r.urgent_by_kind.items(), key=lambda kv: -kv[1]):
        print(f"| {kind} | {n} | {r.found_by_kind[kind]} | {r.found_by_kind[kind] / n:.2f} |")
    print()
    print("| hard-negative kind (urgency_test.csv) | messages | false alarms |")
    print("|---|---:|---:|")
    for kind, n in sorted(r.negatives_by_kind.items(), key=lambda kv: -kv[1]):
        print(f"| {kind} | {n} | {r.alarms_by_kind[kind]} |")
    if r.missed:
        print()
        print("missed: " + " / ".join(r.missed))
    print()
    print(f"{len(DANGERS)} danger kinds, {len(DISCOUNTS)} discount kinds")
    texts = [tokenize.normalize(e.text) for e in test + train_set]
    clf = default_classifier()
    seg, cls, det = throughput([jieba.lcut, clf.classify, assess], texts, rounds=rounds)
    print()
    print(f"| speed on the urgency sets ({len(texts)} messages, best of {rounds} rounds) | per message |")
    print("|---|---:|")
    print(f"| `jieba.lcut` | {1e6 / seg:.0f} µs |")
    print(f"| `classify()`, shipped community model | {1e6 / cls:.0f} µs ({seg / cls:.2f}× `jieba.lcut`) |")
    print(f"| urgency `assess()` alone | {1e6 / det:.1f} µs ({seg / det:.2f}× `jieba.lcut`) |")
    if everyday:
        # Everyday traffic, where almost no message holds a danger signal: what the detector adds to classify().
        norm = [tokenize.normalize(t) for t in everyday]
        seg, det = throughput([jieba.lcut, assess], norm, rounds=rounds, clock=time.process_time)
        hits = sum(bool(assess(t).signals) for t in norm)
        print(
            f"| urgency `assess()` on eval_short ({len(norm)} messages, {hits} with a danger signal; CPU time) | "
            f"{1e6 / det:.1f} µs ({seg / det:.3f}× `jieba.lcut` at {1e6 / seg:.0f} µs) |"
        )


def read_real(folder: Path) -> list[dict[str, str]]:
    """The scored rows of the real letters: those whose bucket is in BUCKETS."""
    with open(folder / REAL_FILE, encoding="utf-8-sig", newline="") as fh:
        return [row for row in csv.DictReader(fh) if row["route_hint"] in BUCKETS]


def routed(decision: Decision, threshold: float) -> bool:
    """Whether a decision is routed automatically at a triage threshold (as Classifier decides needs_triage)."""
    return decision.category != OTHER and decision.confidence >= threshold


def tradeoff(decisions: list[tuple[Decision, frozenset[str]]], threshold: float) -> tuple[float, float, float]:
    """(share routed automatically, accuracy of what was routed, share of the triaged messages whose right
    category is among the two suggestions) at a threshold; a decision is right when its category is allowed."""
    auto = [(d, ok) for d, ok in decisions if routed(d, threshold)]
    triaged = [(d, ok) for d, ok in decisions if not routed(d, threshold) and OTHER not in ok]
    share = len(auto) / len(decisions)
    accuracy = sum(d.category in ok for d, ok in auto) / len(auto) if auto else 0.0
    top_two = sum(any(c in ok for c, _, _ in d.suggestions) for d, ok in triaged) / len(triaged) if triaged else 0.0
    return share, accuracy, top_two


def shipped_report(real: Path) -> None:
    """The shipped community model on the real letters (titles and texts), the community test set, and the
    routing trade-off of its threshold."""
    clf = classifier.default_classifier()
    shipped = clf.model.threshold
    print(f"# Shipped community model {clf.version}: {clf.model.meta.get('examples')} training examples")
    print()
    sets: dict[str, list[tuple[Decision, frozenset[str]]]] = {}
    held_out = train.read_csv(COMMUNITY_TEST)
    sets["community test set"] = [(clf.classify(e.text), frozenset({e.label})) for e in held_out]
    report = evaluate([e.label for e in held_out], [d.category for d, _ in sets["community test set"]])
    print(
        f"community test set ({COMMUNITY_TEST.relative_to(REPO)}, {report.n} messages, never trained on): "
        f"macro-F1 {report.macro_f1:.3f}, accuracy {report.accuracy:.3f} (target macro-F1 ≥ 0.85)"
    )
    rows = read_real(real) if (real / REAL_FILE).exists() else []
    if rows:
        recall: dict[str, dict[str, float]] = {}
        print()
        print(f"real letters ({REAL_FILE}, {len(rows)} scored rows, right = a category the bucket allows):")
        print()
        print("| field | accuracy | target | `other` share |")
        print("|---|---:|---:|---:|")
        for field, target in (("title", 0.65), ("text", 0.70)):
            decisions = [(clf.classify(r[field]), BUCKETS[r["route_hint"]]) for r in rows]
            sets[f"real {field}s"] = decisions
            right = [d.category in ok for d, ok in decisions]
            other = sum(d.category == OTHER for d, _ in decisions) / len(decisions)
            print(f"| {field} | {sum(right) / len(right):.3f} | ≥ {target:.2f} | {other:.3f} |")
            for bucket in BUCKETS:
                hits = [ok for ok, r in zip(right, rows, strict=True) if r["route_hint"] == bucket]
                recall.setdefault(bucket, {})[field] = sum(hits) / len(hits) if hits else 0.0
        counts = {b: sum(r["route_hint"] == b for r in rows) for b in BUCKETS}
        print()
        print("| bucket | n | categories that count | recall on titles | recall on texts |")
        print("|---|---:|---|---:|---:|")
        for bucket, allowed in BUCKETS.items():
            print(
                f"| {bucket} | {counts[bucket]} | {', '.join(sorted(allowed))} | {recall[bucket]['title']:.3f} | "
                f"{recall[bucket]['text']:.3f} |"
            )
    else:
        print(f"(no {REAL_FILE} under {real}: real-data section skipped)")
    print()
    print(
        "routing trade-off: a message is routed automatically when its category is not `other` and its confidence "
        "reaches the threshold; the rest go to triage with two suggestions"
    )
    print()
    columns = ["set", "threshold", "routed automatically", "accuracy of the routed"]
    columns.append("triaged: right one among the two suggestions")
    print("| " + " | ".join(columns) + " |")
    print("|---|---:|---:|---:|---:|")
    for name, decisions in sets.items():
        for threshold in sorted({0.5, shipped, 0.8}):
            share, accuracy, top_two = tradeoff(decisions, threshold)
            mark = " (shipped)" if threshold == shipped else ""
            print(f"| {name} | {threshold:.2f}{mark} | {share:.3f} | {accuracy:.3f} | {top_two:.3f} |")
    print()


def main() -> None:
    """Report the shipped model, then train both tipdm models, evaluate them and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the tipdm2020c CSV files")
    parser.add_argument(
        "--speed-runs",
        type=int,
        default=5,
        help="independent throughput measurements; the median is reported",
    )
    parser.add_argument(
        "--save-model", type=Path, default=None, help="also write the trained model here (outside the repo)"
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="skip training: use a model that an earlier run wrote with --save-model (same data and code)",
    )
    parser.add_argument(
        "--urgency-only", action="store_true", help="only the urgency tables (no tipdm data or training needed)"
    )
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL, help="folder of the real letters CSV")
    parser.add_argument("--no-tipdm", action="store_true", help="only the shipped community model's sections")
    args = parser.parse_args()
    data: Path = args.data
    if args.urgency_only:
        tokenize.warm()
        short = data / "eval_short.csv"
        urgency_tables(everyday=read_eval(short)[0] if short.exists() else None)
        return

    tokenize.warm()
    shipped_report(args.real)
    if args.no_tipdm:
        return

    t0 = time.perf_counter()
    tokenize.warm()
    examples = load_training(data)
    if args.model:
        model = KeywordModel.load(args.model)
    else:
        model = train.fit(examples, version="tipdm-bench", sources=["train_raw.csv", "train_segmented.csv (deduped)"])
    if args.save_model:
        model.save(args.save_model)
    train_s = time.perf_counter() - t0
    clf = Classifier(model)
    docs = [train.example_tokens(e) for e in examples]
    base_predict = baseline(docs, [e.label for e in examples])

    rows = []
    for name in ("eval_long", "eval_short"):
        texts, gold = read_eval(data / f"{name}.csv")
        ours = evaluate(gold, [clf.classify(t).category for t in texts])
        base = evaluate(gold, base_predict(texts))
        rows.append((name, len(texts), ours, base))

    n_keywords = sum(len(c.keywords) for c in model.categories.values())
    n_ngrams = sum(tokenize.is_ngram(k) for c in model.categories.values() for k in c.keywords)
    size_kib = len(json.dumps(model.to_json(), ensure_ascii=False, indent=1).encode()) / 1024
    print(f"# NLP benchmark: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"training: {model.meta['examples']} examples, C={model.meta['C']}, prune={model.meta['prune']}, "
        f"sharpness={model.sharpness} (chosen by cross-validation on train), n-grams {model.meta['ngrams']}, "
        f"{n_keywords} keywords ({n_ngrams} n-grams), {size_kib:.0f} KiB JSON, {train_s:.0f} s"
    )
    print(
        "cross-validated macro-F1 (mean of whole and first-8-token held-out messages):",
        model.meta["cv_macro_f1"],
    )
    print()
    print(
        "| eval set | n | keyword model acc | keyword model macro-F1 | baseline acc | baseline macro-F1 | "
        "macro-F1 ratio (ours / baseline) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, n, ours, base in rows:
        print(
            f"| {name} | {n} | {ours.accuracy:.3f} | {ours.macro_f1:.3f} | {base.accuracy:.3f} | "
            f"{base.macro_f1:.3f} | {ours.macro_f1 / base.macro_f1:.3f} |"
        )
    short_texts, _ = read_eval(data / "eval_short.csv")
    # The VM is shared and noisy: repeat the whole interleaved measurement and report the median run, by wall
    # clock and by this process's CPU time.
    fns = [jieba.lcut, clf.classify]
    seg_rate, clf_rate, ratios = speed_runs(fns, short_texts, args.speed_runs, time.perf_counter)
    seg_cpu, clf_cpu, cpu_ratios = speed_runs(fns, short_texts, args.speed_runs, time.process_time)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tipdm.json"
        model.save(path)
        probe = "'小区门口的路灯坏了一个月了'"
        cold_default = cold_start(
            f"from nlp import classifier; print(classifier.default_classifier().classify({probe}).category)"
        )
        cold_tipdm = cold_start(
            "from nlp.classifier import Classifier; "
            f"print(Classifier.from_file({str(path)!r}).classify({probe}).category)"
        )
        cold_jieba = cold_start(f"import jieba; print(jieba.lcut({probe})[0])")

    print()
    print(f"| speed (eval_short, median of {len(ratios)} runs of 15 interleaved rounds) | wall clock | CPU time |")
    print("|---|---:|---:|")
    print(
        f"| `jieba.lcut` throughput | {seg_rate:,.0f} msgs/s ({1e6 / seg_rate:.0f} µs) | "
        f"{seg_cpu:,.0f} msgs/s ({1e6 / seg_cpu:.0f} µs) |"
    )
    print(
        f"| `classify()` throughput | {clf_rate:,.0f} msgs/s ({1e6 / clf_rate:.0f} µs) | "
        f"{clf_cpu:,.0f} msgs/s ({1e6 / clf_cpu:.0f} µs) |"
    )
    print(
        f"| classification cost / segmentation cost (target ≤ 1.5×) | {seg_rate / clf_rate:.2f}× | "
        f"{seg_cpu / clf_cpu:.2f}× |"
    )
    print(
        "| the runs' ratios | "
        + ", ".join(f"{r:.2f}" for r in ratios)
        + " | "
        + ", ".join(f"{r:.2f}" for r in cpu_ratios)
        + " |"
    )
    print(f"| cold start to first `jieba.lcut` | {cold_jieba:.2f} s |")
    print(f"| cold start to first `classify()`, shipped community model | {cold_default:.2f} s (target < 2 s) |")
    print(f"| cold start to first `classify()`, this tipdm model from JSON | {cold_tipdm:.2f} s |")
    print()
    urgency_tables(everyday=short_texts)


if __name__ == "__main__":
    main()
