"""What storing a push costs before any SQL: the inbound row's values (WeChat's dedupe key, the MsgId as text).

In-process, no server: `bot.inbound.row_values` for a resident's text (MsgId ≥ 2^63), a template delivery
receipt (top-level MsgID) and a subscribe-message receipt (MsgID nested in <List>, which costs a second
parse of the body), each timed over many calls after a warm-up; the median of several runs.

`--rev REV` times bot/inbound.py as it was at git revision REV instead (its `_row`, before the function was
public), for a before/after comparison on the same machine.

Run: .venv/bin/python bench/inbound_keys.py [--calls 20000] [--runs 5] [--rev REV]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wechat.xmlsafe import parse_xml  # noqa: E402

HEAD = (
    "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[oBenchResident000000000000001]]>"
    "</FromUserName><CreateTime>1764000000</CreateTime>"
)
PUSHES = {
    "text, MsgId 2^64-1": HEAD + "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[3幢电梯又停了]]></Content>"
    "<MsgId>18446744073709551615</MsgId></xml>",
    "TEMPLATESENDJOBFINISH": HEAD
    + "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
    "<MsgID>200163836</MsgID><Status><![CDATA[success]]></Status></xml>",
    "subscribe_msg_sent_event": HEAD
    + "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe_msg_sent_event]]></Event>"
    "<SubscribeMsgSentEvent><List><TemplateId><![CDATA[tpl]]></TemplateId><MsgID>1700827132819554304</MsgID>"
    "<ErrorCode>0</ErrorCode><ErrorStatus><![CDATA[success]]></ErrorStatus></List></SubscribeMsgSentEvent></xml>",
}


def row_values_at(rev: str | None) -> Callable[..., dict[str, Any]]:
    """`row_values` of the working tree, or of bot/inbound.py at git revision `rev`."""
    if rev is None:
        from bot.inbound import row_values

        return row_values
    source = subprocess.check_output(["git", "show", f"{rev}:bot/inbound.py"], cwd=ROOT, text=True)
    module = types.ModuleType("bot_inbound_at_rev")
    sys.modules[module.__name__] = module
    exec(compile(source, f"{rev}:bot/inbound.py", "exec"), module.__dict__)  # noqa: S102 - our own file
    return getattr(module, "row_values", None) or module._row


def per_call_us(row_values: Callable[..., dict[str, Any]], raw: str, calls: int) -> float:
    """Microseconds per `row_values` call for the push `raw` (parsed once, as the webhook does)."""
    fields = parse_xml(raw)
    for _ in range(1000):
        row_values(fields, raw, encrypted=True, push_nonce="1:1")
    started = time.perf_counter()
    for _ in range(calls):
        row_values(fields, raw, encrypted=True, push_nonce="1:1")
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    """Print a table: push kind, median µs per call, min–max over the runs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rev", default=None, help="time bot/inbound.py at this git revision")
    args = parser.parse_args()
    row_values = row_values_at(args.rev)
    print(f"bot/inbound.py at {args.rev or 'the working tree'}")
    print(f"| push | row values, µs (median of {args.runs}) | min–max |")
    print("|---|---|---|")
    for name, raw in PUSHES.items():
        runs = [per_call_us(row_values, raw, args.calls) for _ in range(args.runs)]
        print(f"| {name} | {statistics.median(runs):.1f} | {min(runs):.1f}–{max(runs):.1f} |")


if __name__ == "__main__":
    main()
