#!/usr/bin/env python3
"""Deterministic corpus generator for scripts/bench (python3 standard library only).

Writes NDJSON files of synthetic Amazon Bedrock model-invocation-log records, shaped like the
real ones (tests/data/shapes.jsonl shows the shapes the parser accepts): all four operations
(Converse, ConverseStream, InvokeModel with native provider bodies, and
InvokeModelWithResponseStream with arrays of stream chunks), model ids in every form the card
resolves (base ids, us./eu./apac./global. profiles, inference-profile and foundation-model
ARNs), source regions the bundled card prices, prompt-cache read/write counters, assumed-role
and IAM-user ARNs, requestMetadata with user/feature keys, about 1% failed calls (errorCode,
no tokens), a few calls to models no card prices, and a handful of malformed lines.

The same arguments always give the same bytes. Every requestId is uuid-shaped and unique; the
random stream is seeded with (seed, kind), so corpora of different kinds never share ids.

Kinds:
  bodyless   no prompt/completion bodies (text delivery off): ~630 bytes a record.
  bodyheavy  bodies from 0 to 100 KB each (log-normal sizes), until --target-mb is reached.
  series     for the scrape/startup measurements: --series N gives about N exposed series.
             Each user has one feature and one model and makes one call with input, output,
             cache-read and cache-write tokens, which gives 12 series (SERIES_PER_USER):
             users = N / 12.

A JSON sidecar FILE.meta.json tells what was written (records, malformed lines, errors, ...).

Examples:
  scripts/bench-corpus.py --kind bodyless --records 150000 --out /tmp/bodyless.jsonl
  scripts/bench-corpus.py --kind bodyheavy --target-mb 128 --out /tmp/bodyheavy.jsonl
  scripts/bench-corpus.py --kind series --series 100000 --out /tmp/series-100k.jsonl
"""

import argparse
import datetime
import json
import math
import random

# Exposed series one series-kind user adds: in the cross product bedrock_cost_usd_total 1,
# bedrock_tokens_total 4 (input, output, cache read, cache write) and bedrock_invocations_total 1;
# per user 1 + 4 + 1 again (bedrock_user_*). Feature and model series are shared.
SERIES_PER_USER = 12
import sys

ACCOUNT = "123456789012"

# (modelId as logged, source region, family, cache classes the card prices for it).
# All 30 are priced by ratecards/2026-11-22.toml (standard tier) for that region and scope.
# family picks the native body shapes of InvokeModel / InvokeModelWithResponseStream.
# cache: "" none, "r" cache read only (Nova), "rw" read + write (Claude).
MODELS = [
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "us-east-1", "anthropic", "rw"),
    ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "us-west-2", "anthropic", "rw"),
    ("anthropic.claude-sonnet-4-5-20250929-v1:0", "us-east-1", "anthropic", "rw"),
    ("us.anthropic.claude-haiku-4-5-20251001-v1:0", "us-east-2", "anthropic", "rw"),
    ("global.anthropic.claude-haiku-4-5-20251001-v1:0", "eu-west-1", "anthropic", "rw"),
    (f"arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/us.anthropic.claude-opus-4-5-20251101-v1:0",
     "us-east-1", "anthropic", "rw"),
    ("global.anthropic.claude-opus-4-6-v1", "us-east-1", "anthropic", "rw"),
    ("us.anthropic.claude-sonnet-4-6", "us-west-2", "anthropic", "rw"),
    ("anthropic.claude-3-5-haiku-20241022-v1:0", "us-west-2", "anthropic", "rw"),
    ("anthropic.claude-3-7-sonnet-20250219-v1:0", "us-east-1", "anthropic", "rw"),
    ("us.anthropic.claude-sonnet-4-20250514-v1:0", "us-east-1", "anthropic", "rw"),
    ("anthropic.claude-3-haiku-20240307-v1:0", "us-east-1", "anthropic", ""),
    ("eu.anthropic.claude-3-7-sonnet-20250219-v1:0", "eu-central-1", "anthropic", "rw"),
    ("amazon.nova-micro-v1:0", "us-east-1", "nova", "r"),
    ("amazon.nova-lite-v1:0", "us-east-1", "nova", "r"),
    ("eu.amazon.nova-lite-v1:0", "eu-central-1", "nova", "r"),
    ("apac.amazon.nova-micro-v1:0", "ap-northeast-1", "nova", "r"),
    ("us.amazon.nova-pro-v1:0", "us-east-1", "nova", "r"),
    ("us.amazon.nova-premier-v1:0", "us-east-1", "nova", "r"),
    ("global.amazon.nova-2-lite-v1:0", "us-east-1", "nova", "r"),
    ("meta.llama3-3-70b-instruct-v1:0", "us-west-2", "llama", ""),
    ("us.meta.llama4-maverick-17b-instruct-v1:0", "us-east-1", "llama", ""),
    ("arn:aws:bedrock:us-west-2::foundation-model/meta.llama3-1-8b-instruct-v1:0", "us-west-2", "llama", ""),
    ("mistral.mistral-large-2407-v1:0", "us-west-2", "openai", ""),
    ("us.mistral.pixtral-large-2502-v1:0", "us-east-1", "openai", ""),
    ("us.deepseek.r1-v1:0", "us-east-1", "openai", ""),
    ("openai.gpt-oss-120b-1:0", "us-west-2", "openai", ""),
    ("openai.gpt-oss-20b-1:0", "us-west-2", "openai", ""),
    ("amazon.titan-embed-text-v2:0", "us-east-1", "titan-embed", ""),
    ("cohere.embed-v4:0", "us-east-1", "cohere-embed", ""),
]

# Calls to models no card prices (counted as unpriced by the daemon).
UNKNOWN_MODELS = [
    ("acme.mystery-model-v9:0", "us-east-1", "openai", ""),
    (f"arn:aws:bedrock:us-east-1:{ACCOUNT}:application-inference-profile/a1b2c3d4e5f6", "us-east-1", "anthropic", ""),
    ("meta.llama9-1t-instruct-v1:0", "us-west-2", "llama", ""),
]
UNKNOWN_RATE = 0.005

ROLES = ["ChatService", "SearchIndexer", "SupportBot", "CodeReviewService", "BatchJobs",
         "DocQA", "Summarizer", "AgentRuntime", "DataPipeline", "Playground"]
ERROR_CODES = ["ThrottlingException", "ValidationException", "ModelTimeoutException",
               "ServiceUnavailableException", "AccessDeniedException", "ModelErrorException"]
FEATURE_WORDS = ["chat", "search", "summarize", "translate", "code-review", "doc-qa", "agent",
                 "classify", "extract", "rewrite"]
ENVIRONMENTS = ["production", "staging", "development"]
TEAMS = ["platform", "growth", "support", "search", "ml", "finance", "legal", "infra"]

WORDS = ("the of and to in is for on that with as by this are be from at or an it not which "
         "have your all can more will one about may other their has use any these when some "
         "customer invoice deployment latency throughput budget report summary request model "
         "token prompt answer context function variable cluster region account policy error "
         "retry timeout database schema migration pipeline metric dashboard alert incident "
         "résumé café naïve Zürich 東京 데이터 données ✓ →").split()

T0 = datetime.datetime(2026, 11, 20, tzinfo=datetime.timezone.utc)


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class Gen:
    def __init__(self, args):
        self.a = args
        self.rng = random.Random(f"{args.seed}-{args.kind}")
        rng = self.rng
        n_models = max(1, min(args.models, len(MODELS)))
        self.models = MODELS[:n_models]
        # Popularity of models: a few dominate, like real traffic.
        self.model_weights = [1.0 / (i + 1) ** 0.8 for i in range(n_models)]
        self.features = [f"{FEATURE_WORDS[i % len(FEATURE_WORDS)]}-{i // len(FEATURE_WORDS) + 1}"
                         for i in range(args.features)]
        self.users = [f"user{i:05d}@example.com" for i in range(args.users)]
        # Each user has a couple of features and a home model; activity is half uniform, half
        # Zipf-like, so that every user shows up in a large corpus but some are much busier.
        self.user_features = [rng.sample(range(args.features), k=min(args.features, rng.randint(1, 3)))
                              for _ in range(args.users)]
        self.user_model = [rng.choices(range(n_models), weights=self.model_weights)[0]
                           for _ in range(args.users)]
        self.user_role = [rng.randrange(len(ROLES)) for _ in range(args.users)]
        zipf = [1.0 / (i + 1) ** 1.05 for i in range(args.users)]
        total = sum(zipf)
        acc, self.zipf_cum = 0.0, []
        for w in zipf:
            acc += w / total
            self.zipf_cum.append(acc)
        # A pool of text with the escapes real prompts have (newlines, quotes, tabs, non-ASCII).
        parts, size = [], 0
        while size < 1_500_000:
            w = rng.choice(WORDS)
            r = rng.random()
            if r < 0.04:
                w += ".\n"
            elif r < 0.05:
                w = f'"{w}"'
            elif r < 0.055:
                w += "\t"
            elif r < 0.07:
                w += ","
            parts.append(w)
            size += len(w) + 1
        self.pool = " ".join(parts)
        self.counts = {"records": 0, "errors": 0, "unknown_model": 0, "malformed": 0,
                       "bodyless": 0, "by_operation": {}}

    # ---------------------------------------------------------------- helpers
    def uuid(self):
        b = self.rng.getrandbits(128)
        b = (b & ~(0xF << 76)) | (0x4 << 76)  # version 4
        b = (b & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
        h = f"{b:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def text(self, n):
        if n <= 0:
            return ""
        n = min(n, len(self.pool) - 1)
        o = self.rng.randrange(0, len(self.pool) - n)
        return self.pool[o:o + n]

    def pieces(self, t, lo=8, hi=60):
        out, i = [], 0
        while i < len(t):
            k = self.rng.randint(lo, hi)
            out.append(t[i:i + k])
            i += k
        return out or [""]

    def lognorm_int(self, median, sigma, lo, hi):
        v = int(self.rng.lognormvariate(math.log(median), sigma))
        return max(lo, min(hi, v))

    def timestamp(self, i, n):
        secs = i * 86400.0 / max(n, 1) + self.rng.uniform(-30, 30)
        t = T0 + datetime.timedelta(seconds=max(0.0, secs))
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    def pick_user(self):
        if self.rng.random() < 0.5:
            return self.rng.randrange(len(self.users))
        import bisect
        return min(bisect.bisect_left(self.zipf_cum, self.rng.random()), len(self.users) - 1)

    # ---------------------------------------------------------------- bodies
    def bodies(self, op, family, model_id, tok, in_len, out_len):
        """(inputBodyJson, outputBodyJson) for one call, about in_len / out_len characters."""
        rng = self.rng
        ti, to = self.text(in_len), self.text(out_len)
        usage_conv = {"inputTokens": tok["in"], "outputTokens": tok["out"],
                      "totalTokens": tok["in"] + tok["out"] + tok["cr"] + tok["cw"]}
        if tok["cr"]:
            usage_conv["cacheReadInputTokens"] = tok["cr"]
        if tok["cw"]:
            usage_conv["cacheWriteInputTokens"] = tok["cw"]
            if tok["cw1h"] is not None:
                usage_conv["cacheDetails"] = [{"ttl": "1h", "inputTokens": tok["cw1h"]},
                                              {"ttl": "5m", "inputTokens": tok["cw"] - tok["cw1h"]}]
        if op in ("Converse", "ConverseStream") and family not in ("titan-embed", "cohere-embed"):
            turns = self.pieces(ti, max(1, len(ti) // 5), max(1, len(ti) // 2)) if ti else [""]
            msgs = [{"role": "user" if k % 2 == 0 else "assistant", "content": [{"text": t}]}
                    for k, t in enumerate(turns)]
            if msgs[-1]["role"] != "user":
                msgs.append({"role": "user", "content": [{"text": "continue"}]})
            inp = {"messages": msgs, "inferenceConfig": {"maxTokens": 4096, "temperature": 0.7}}
            if rng.random() < 0.3:
                inp["system"] = [{"text": "You are a helpful assistant for ACME Corp."}]
            out = {"output": {"message": {"role": "assistant", "content": [{"text": to}]}},
                   "stopReason": "end_turn", "metrics": {"latencyMs": rng.randint(200, 30000)},
                   "usage": usage_conv}
            return inp, out
        if family == "titan-embed":
            dims = [round(rng.uniform(-1, 1), 6) for _ in range(256)]
            return {"inputText": ti, "dimensions": 256}, {"embedding": dims, "inputTextTokenCount": tok["in"]}
        if family == "cohere-embed":
            dims = [round(rng.uniform(-1, 1), 6) for _ in range(256)]
            return ({"texts": [ti], "input_type": "search_document"},
                    {"id": self.uuid(), "embeddings": {"float": [dims]}, "texts": [ti[:200]],
                     "response_type": "embeddings_by_type"})
        streaming = op == "InvokeModelWithResponseStream"
        metrics = {"inputTokenCount": tok["in"], "outputTokenCount": tok["out"],
                   "invocationLatency": rng.randint(300, 60000), "firstByteLatency": rng.randint(100, 3000)}
        if family == "anthropic":
            inp = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4096,
                   "messages": [{"role": "user", "content": [{"type": "text", "text": ti}]}]}
            usage = {"input_tokens": tok["in"], "output_tokens": tok["out"]}
            if tok["cr"]:
                usage["cache_read_input_tokens"] = tok["cr"]
            if tok["cw"]:
                usage["cache_creation_input_tokens"] = tok["cw"]
                if tok["cw1h"] is not None:
                    usage["cache_creation"] = {"ephemeral_5m_input_tokens": tok["cw"] - tok["cw1h"],
                                               "ephemeral_1h_input_tokens": tok["cw1h"]}
            if not streaming:
                return inp, {"id": "msg_bdrk_" + self.uuid().replace("-", "")[:24], "type": "message",
                             "role": "assistant", "content": [{"type": "text", "text": to}],
                             "stop_reason": "end_turn", "usage": usage}
            start_usage = dict(usage, output_tokens=1)
            chunks = [{"type": "message_start", "message": {"id": "msg_bdrk_x", "type": "message",
                                                            "role": "assistant", "content": [],
                                                            "usage": start_usage}},
                      {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}]
            chunks += [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
                       for p in self.pieces(to)]
            chunks += [{"type": "content_block_stop", "index": 0},
                       {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                        "usage": {"output_tokens": tok["out"]}},
                       {"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics}]
            return inp, chunks
        if family == "nova":
            inp = {"schemaVersion": "messages-v1",
                   "messages": [{"role": "user", "content": [{"text": ti}]}],
                   "inferenceConfig": {"maxTokens": 2048}}
            if not streaming:
                return inp, {"output": {"message": {"role": "assistant", "content": [{"text": to}]}},
                             "stopReason": "end_turn", "usage": usage_conv}
            chunks = [{"messageStart": {"role": "assistant"}}]
            chunks += [{"contentBlockDelta": {"delta": {"text": p}, "contentBlockIndex": 0}}
                       for p in self.pieces(to)]
            chunks += [{"contentBlockStop": {"contentBlockIndex": 0}},
                       {"messageStop": {"stopReason": "end_turn"}},
                       {"metadata": {"usage": usage_conv}, "amazon-bedrock-invocationMetrics": metrics}]
            return inp, chunks
        if family == "llama":
            inp = {"prompt": ti, "max_gen_len": 2048, "temperature": 0.5}
            if not streaming:
                return inp, {"generation": to, "prompt_token_count": tok["in"],
                             "generation_token_count": tok["out"], "stop_reason": "stop"}
            ps = self.pieces(to)
            chunks = [{"generation": p, "prompt_token_count": tok["in"] if k == 0 else None,
                       "generation_token_count": k + 1, "stop_reason": None} for k, p in enumerate(ps)]
            chunks[-1]["stop_reason"] = "stop"
            chunks[-1]["amazon-bedrock-invocationMetrics"] = metrics
            return inp, chunks
        # OpenAI-style chat bodies (Mistral, DeepSeek, gpt-oss)
        inp = {"messages": [{"role": "user", "content": ti}], "max_tokens": 2048, "temperature": 0.3}
        if not streaming:
            return inp, {"id": "chatcmpl-" + self.uuid()[:8], "object": "chat.completion",
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": to},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": tok["in"], "completion_tokens": tok["out"],
                                   "total_tokens": tok["in"] + tok["out"]}}
        chunks = [{"id": "chatcmpl-x", "object": "chat.completion.chunk",
                   "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
                  for p in self.pieces(to)]
        chunks[-1]["choices"][0]["finish_reason"] = "stop"
        chunks[-1]["amazon-bedrock-invocationMetrics"] = metrics
        return inp, chunks

    # ---------------------------------------------------------------- records
    def record(self, i, n, heavy):
        rng = self.rng
        u = self.pick_user()
        if rng.random() < 0.8:
            f = rng.choice(self.user_features[u])
        else:
            f = rng.randrange(len(self.features))
        if rng.random() < UNKNOWN_RATE:
            model_id, region, family, cache = rng.choice(UNKNOWN_MODELS)
            self.counts["unknown_model"] += 1
        elif rng.random() < 0.7:
            model_id, region, family, cache = self.models[self.user_model[u]]
        else:
            model_id, region, family, cache = rng.choices(self.models, weights=self.model_weights)[0]
        embed = family.endswith("embed")
        if embed:
            op = "InvokeModel"
        else:
            r = rng.random()
            op = ("Converse" if r < 0.40 else "ConverseStream" if r < 0.65
                  else "InvokeModel" if r < 0.85 else "InvokeModelWithResponseStream")
        self.counts["by_operation"][op] = self.counts["by_operation"].get(op, 0) + 1
        error = rng.random() < self.a.error_rate

        # token counts; the input counter excludes cache reads/writes (as Bedrock logs it)
        body_in = body_out = 0
        if heavy and not error and rng.random() >= 0.05:
            body_in = self.lognorm_int(6000, 1.2, 0, 100_000)
            body_out = 0 if embed else self.lognorm_int(2000, 1.0, 0, 100_000)
        t_in = max(1, body_in // 4) if heavy else self.lognorm_int(1200, 1.1, 1, 150_000)
        t_out = 0 if embed else (max(1, body_out // 4) if heavy else self.lognorm_int(250, 1.0, 1, 32_000))
        cr = cw = 0
        cw1h = None
        if "r" in cache and rng.random() < 0.3:
            cr = self.lognorm_int(20_000, 1.0, 1, 150_000)
        if "w" in cache and rng.random() < 0.1:
            cw = self.lognorm_int(3000, 1.0, 1, 40_000)
            # Claude 4.5+ bodies may say which TTL the writes had; the counters never do.
            if heavy and rng.random() < 0.5 and "claude-3" not in model_id and "sonnet-4-2" not in model_id:
                cw1h = rng.randint(0, cw)
        tok = {"in": t_in, "out": t_out, "cr": cr, "cw": cw, "cw1h": cw1h}

        rec = {}
        old_order = rng.random() < 0.3  # 2024-style records start with schemaType
        if old_order:
            rec["schemaType"] = "ModelInvocationLog"
            rec["schemaVersion"] = "1.0"
        rec["timestamp"] = self.timestamp(i, n)
        rec["accountId"] = ACCOUNT
        user = self.users[u]
        # The session (or IAM user) name is the user's address, so a record without
        # requestMetadata still belongs to one of the --users users.
        if rng.random() < 0.85:
            arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLES[self.user_role[u]]}/{user}"
        else:
            arn = f"arn:aws:iam::{ACCOUNT}:user/{user}"
        if old_order:
            rec["identity"] = {"arn": arn}
        rec["region"] = region
        rec["requestId"] = self.uuid()
        rec["operation"] = op
        rec["modelId"] = model_id
        ct = "application/json"
        if error:
            self.counts["errors"] += 1
            rec["input"] = {"inputContentType": ct}
            rec["output"] = {"outputContentType": ct}
            rec["errorCode"] = rng.choice(ERROR_CODES)
        else:
            inp = {"inputContentType": ct}
            out = {"outputContentType": ct}
            if heavy and (body_in or body_out):
                ib, ob = self.bodies(op, family, model_id, tok, body_in, body_out)
                inp["inputBodyJson"] = ib
                out["outputBodyJson"] = ob
            else:
                self.counts["bodyless"] += 1
            inp["inputTokenCount"] = t_in
            if cache:
                inp["cacheReadInputTokenCount"] = cr
                inp["cacheWriteInputTokenCount"] = cw
            if not embed:
                out["outputTokenCount"] = t_out
            rec["input"] = inp
            rec["output"] = out
        m = rng.random()
        if m < 0.75:
            md = {"user": user, "feature": self.features[f]}
            if rng.random() < 0.5:
                md["team"] = TEAMS[u % len(TEAMS)]
                md["environment"] = ENVIRONMENTS[0 if rng.random() < 0.8 else rng.randrange(1, 3)]
            rec["requestMetadata"] = md
        elif m < 0.9:
            rec["requestMetadata"] = {"user_id": user, "feature": self.features[f],
                                      "application_id": f"app-{f % 7:03d}"}
        # else: no requestMetadata; the principal ARN is all there is
        if not old_order:
            rec["identity"] = {"arn": arn}
            rec["schemaType"] = "ModelInvocationLog"
            rec["schemaVersion"] = "1.0"
        self.counts["records"] += 1
        return dumps(rec)

    def malformed(self, k, good_line):
        """Lines the daemon must count as malformed and skip."""
        self.counts["malformed"] += 1
        rid = self.uuid()
        kind = k % 6
        if kind == 0:  # truncated JSON (a record cut short)
            return good_line[: max(10, len(good_line) // 2)]
        if kind == 1:  # a token count of the wrong type
            return dumps({"timestamp": "2026-11-20T12:00:00Z", "region": "us-east-1", "requestId": rid,
                          "modelId": "amazon.nova-micro-v1:0", "input": {"inputTokenCount": "12"}})
        if kind == 2:
            return "this is not json"
        if kind == 3:  # negative count
            return dumps({"timestamp": "2026-11-20T12:00:00Z", "region": "us-east-1", "requestId": rid,
                          "modelId": "amazon.nova-micro-v1:0", "input": {"inputTokenCount": -3}})
        if kind == 4:  # missing modelId
            return dumps({"timestamp": "2026-11-20T12:00:00Z", "region": "us-east-1", "requestId": rid})
        return dumps({"timestamp": "yesterday", "region": "us-east-1", "requestId": rid,  # bad time
                      "modelId": "amazon.nova-micro-v1:0"})

    def series_record(self, u, n_users):
        """One call of user u: input, output, cache read and cache write tokens."""
        # Claude models with cache write prices, so all four token classes are priced.
        capable = [m for m in self.models if m[3] == "rw"] or [MODELS[0]]
        model_id, region, _, _ = capable[u % len(capable)]
        user = f"user{u:07d}@example.com"
        rec = {"timestamp": self.timestamp(u, n_users), "accountId": ACCOUNT, "region": region,
               "requestId": self.uuid(), "operation": "Converse", "modelId": model_id,
               "input": {"inputContentType": "application/json",
                         "inputTokenCount": self.lognorm_int(1200, 1.0, 1, 100_000),
                         "cacheReadInputTokenCount": self.lognorm_int(20_000, 1.0, 1, 50_000),
                         "cacheWriteInputTokenCount": self.lognorm_int(3000, 1.0, 1, 40_000)},
               "output": {"outputContentType": "application/json",
                          "outputTokenCount": self.lognorm_int(250, 1.0, 1, 32_000)},
               "requestMetadata": {"user": user, "feature": self.features[u % len(self.features)]},
               "identity": {"arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLES[u % len(ROLES)]}/svc"},
               "schemaType": "ModelInvocationLog", "schemaVersion": "1.0"}
        self.counts["records"] += 1
        return dumps(rec)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", choices=["bodyless", "bodyheavy", "series"], required=True)
    p.add_argument("--out", required=True, help="output NDJSON file ('-' for standard output)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--records", type=int, default=None,
                   help="records to write (bodyless default 150000; bodyheavy: until --target-mb)")
    p.add_argument("--target-mb", type=float, default=128.0,
                   help="bodyheavy: stop once this many MB (10^6 bytes) are written (default 128)")
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--features", type=int, default=50)
    p.add_argument("--models", type=int, default=30, help=f"priced models used, at most {len(MODELS)}")
    p.add_argument("--error-rate", type=float, default=0.01)
    p.add_argument("--malformed", type=int, default=12, help="malformed lines spread through the file")
    p.add_argument("--series", type=int, default=None, help="series kind: about this many series")
    a = p.parse_args()
    if a.kind == "series" and not a.series:
        p.error("--kind series needs --series N")
    if a.users < 1 or a.features < 1 or a.models < 1:
        p.error("--users, --features and --models must be at least 1")

    g = Gen(a)
    out = sys.stdout.buffer if a.out == "-" else open(a.out, "wb")
    written = 0

    def emit(line):
        nonlocal written
        b = (line + "\n").encode()
        out.write(b)
        written += len(b)

    if a.kind == "series":
        n_users = max(1, round(a.series / SERIES_PER_USER))
        for u in range(n_users):
            emit(g.series_record(u, n_users))
    else:
        heavy = a.kind == "bodyheavy"
        n = a.records if a.records is not None else (150_000 if not heavy else None)
        target = int(a.target_mb * 1e6)
        # Estimated record count, only to spread timestamps and malformed lines.
        est = n if n is not None else max(1, target // 14_000)
        every = max(1, est // (a.malformed + 1)) if a.malformed else 0
        i = k = 0
        last = ""
        while (n is not None and i < n) or (n is None and written < target):
            if every and k < a.malformed and i > 0 and i % every == 0:
                emit(g.malformed(k, last))
                k += 1
            last = g.record(i, est, heavy)
            emit(last)
            i += 1
        while k < a.malformed:  # a short corpus still gets all its malformed lines
            emit(g.malformed(k, last))
            k += 1
    if out is not sys.stdout.buffer:
        out.close()
    meta = dict(g.counts, kind=a.kind, seed=a.seed, bytes=written, users=a.users,
                features=a.features, models=len(g.models), lines=g.counts["records"] + g.counts["malformed"])
    if a.kind == "series":
        meta["series_users"] = max(1, round(a.series / SERIES_PER_USER))
    if a.out != "-":
        with open(a.out + ".meta.json", "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
    print(f"bench-corpus: {a.out}: {meta['lines']} lines ({meta['records']} records, "
          f"{meta['malformed']} malformed, {meta['errors']} errors, {meta['unknown_model']} unknown-model), "
          f"{written / 1e6:.1f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
