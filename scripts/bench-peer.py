#!/usr/bin/env python3
"""The same job as the exporter's replay, done by a straightforward Python script: a speed peer
for scripts/bench, not a second implementation (python3 >= 3.11, standard library only).

Reads NDJSON invocation-log records, parses each with json, drops repeated requestIds (a set),
resolves the modelId (ARNs, us./eu./apac./.../global. profiles) to a base model and scope,
prices input, output, cache-read and cache-write tokens with Decimal from the rate card
(bundled card by default, loaded with tomllib: standard tier, the source region's row or the
"*" row), and sums cost, tokens and calls in a dict per user (requestMetadata user / user_id,
else the principal ARN's last part). Prints a one-line summary.

Not handled, on purpose (the daemon does these): long-context bands, cache-write TTL splits
(all writes are priced at the 5-minute rate), service tiers, aliases, label rules, budgets,
persistence.

Usage: scripts/bench-peer.py FILE [--ratecard CARD.toml] [--json-out FILE]
"""

import argparse
import json
import os
import sys
import tomllib
from decimal import Decimal

GEO = ("us-gov.", "us.", "eu.", "apac.", "jp.", "au.", "ca.", "sa.")
CLASSES = ("input", "output", "cache_read", "cache_write_5m")
MILLION = Decimal(1_000_000)


def load_card(path):
    with open(path, "rb") as f:
        card = tomllib.load(f)
    rows = {}
    for p in card["prices"]:
        if p.get("tier", "standard") != "standard":
            continue
        prices = {c: Decimal(p[c]) for c in CLASSES if c in p}
        for region in p["regions"]:
            for scope in p["scopes"]:
                rows[(p["model"], region, scope)] = prices
    return rows


def resolve(model_id):
    """(base model, scope) or None for ARNs that do not say which model they run."""
    if model_id.startswith("arn:"):
        resource = model_id.split(":", 5)[5] if model_id.count(":") >= 5 else ""
        kind, _, rest = resource.partition("/")
        if kind == "inference-profile":
            model_id = rest
        elif kind == "foundation-model" and rest:
            return rest, "in_region"
        else:
            return None
    if model_id.startswith("global."):
        return model_id[len("global."):], "global"
    for p in GEO:
        if model_id.startswith(p):
            return model_id[len(p):], "geo"
    return model_id, "in_region"


def count(d, key):
    v = d.get(key, 0) if isinstance(d, dict) else 0
    if v is None:
        return 0
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise ValueError(key)
    return v


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--ratecard", default=os.path.join(here, "..", "ratecards", "2026-11-22.toml"))
    ap.add_argument("--json-out", help="write the per-user totals here")
    a = ap.parse_args()
    rows = load_card(a.ratecard)

    seen = set()
    users = {}
    n = priced = unpriced = malformed = duplicates = errors = 0
    total = Decimal(0)
    with open(a.file, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            n += 1
            try:
                r = json.loads(line)
                if not isinstance(r, dict):
                    raise ValueError("not an object")
                ts, region, model_id = r.get("timestamp"), r.get("region"), r.get("modelId")
                if not (isinstance(ts, str) and isinstance(region, str) and isinstance(model_id, str)):
                    raise ValueError("missing field")
                if len(ts) < 20 or ts[4] != "-" or ts[10] != "T":
                    raise ValueError("bad timestamp")
                inp, out = r.get("input") or {}, r.get("output") or {}
                tokens = {
                    "input": count(inp, "inputTokenCount"),
                    "output": count(out, "outputTokenCount"),
                    "cache_read": count(inp, "cacheReadInputTokenCount"),
                    "cache_write_5m": count(inp, "cacheWriteInputTokenCount"),
                }
            except (ValueError, TypeError):
                malformed += 1
                continue
            rid = r.get("requestId")
            if rid is not None:
                if rid in seen:
                    duplicates += 1
                    continue
                seen.add(rid)
            md = r.get("requestMetadata") or {}
            user = md.get("user") or md.get("user_id")
            if not user:
                arn = (r.get("identity") or {}).get("arn") or ""
                user = arn.rsplit("/", 1)[-1] or "unknown"
            if r.get("errorCode"):
                errors += 1
            cost = None
            resolved = resolve(model_id)
            if resolved:
                base, scope = resolved
                row = rows.get((base, region, scope)) or rows.get((base, "*", scope))
                if row is not None and all(n_ == 0 or c in row for c, n_ in tokens.items()):
                    cost = sum((Decimal(n_) * row[c] for c, n_ in tokens.items() if n_), Decimal(0)) / MILLION
            u = users.get(user)
            if u is None:
                u = users[user] = {"cost": Decimal(0), "calls": 0, **{c: 0 for c in CLASSES}}
            u["calls"] += 1
            for c, n_ in tokens.items():
                u[c] += n_
            if cost is None:
                unpriced += 1
            else:
                priced += 1
                u["cost"] += cost
                total += cost
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({k: dict(v, cost=str(v["cost"])) for k, v in users.items()}, f)
    print(f"bench-peer: {n} lines: {priced} priced, {unpriced} unpriced, {duplicates} duplicates, "
          f"{malformed} malformed, {errors} errors; {len(users)} users; total ${total}", file=sys.stderr)


if __name__ == "__main__":
    main()
