"""Cost of the JSON input guards (a depth and NUL walk after parsing) per request body.

Compares Flask's own JSON provider with infra.http.GuardedJSONProvider on the same bodies and prints a table
(median of several rounds, microseconds per parse). Run: .venv/bin/python bench/input_guards.py
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from infra.http import ApiError, GuardedJSONProvider

BODIES = {
    "login code (34 B)": json.dumps({"code": "0a1B2c3D4e5F6g7H8i9J0k"}).encode(),
    "appeal text (≈0.6 KB)": json.dumps(
        {"text": "我家楼道里的声控灯坏了好几天，晚上老人上下楼很不方便，请物业尽快来修一下。" * 6, "building_id": 12},
        ensure_ascii=False,
    ).encode(),
    "60 KB, 2,400 objects": json.dumps([{"k": i, "v": [i, i + 1]} for i in range(2400)]).encode(),
    "1,000 deep (refused)": b'{"code": ' + b"[" * 1000 + b"]" * 1000 + b"}",
}


def per_call_us(fn, body: bytes, rounds: int = 7) -> float:
    """Median over `rounds` of the mean time of one call, in microseconds."""
    n = max(20, int(20000 / max(1, len(body) // 100)))
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(n):
            with contextlib.suppress(ApiError, RecursionError):
                fn(body)
        samples.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(samples)


def main() -> None:
    """Print the table."""
    app = Flask("bench")
    plain, guarded = DefaultJSONProvider(app), GuardedJSONProvider(app)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; Python {sys.version.split()[0]}")
    print("| body | Flask provider µs | guarded µs | guarded outcome |")
    print("|---|---:|---:|---|")
    for name, body in BODIES.items():
        try:
            guarded.loads(body)
            outcome = "parsed"
        except ApiError as e:
            outcome = f"{e.status} {e.code}"
        try:
            plain.loads(body)
            base = f"{per_call_us(plain.loads, body):.1f}"
        except RecursionError:
            base = "RecursionError (HTTP 500)"
        print(f"| {name} | {base} | {per_call_us(guarded.loads, body):.1f} | {outcome} |")


if __name__ == "__main__":
    main()
