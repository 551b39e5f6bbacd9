# syntax=docker/dockerfile:1
#
# bedrock-cost-exporter container image.
#
#   docker build -t bedrock-cost-exporter:0.1.0 .
#   docker run --rm -p 9464:9464 --stop-timeout 45 \
#     -v bce-state:/var/lib/bedrock-cost-exporter \
#     -v /var/log/bedrock:/logs:ro \
#     bedrock-cost-exporter:0.1.0
#
# One container per state volume: the daemon locks the state directory, and a second process
# on the same volume exits at startup. Give it ~45 s to stop (docker's default is 10 s):
# SIGTERM makes it commit what is in flight before exiting.

# ---------------------------------------------------------------------------------------------
# Build stage
# ---------------------------------------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src

# Dependencies first, in their own layer: a source-only change does not rebuild them.
# Cargo.toml names a bench target (benches/pipeline.rs), so the manifest only loads when that
# file exists; the stubs are replaced by the real sources below.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs \
 && : > src/lib.rs \
 && echo 'fn main() {}' > benches/pipeline.rs \
 && cargo build --release --locked \
 && rm -rf src benches

COPY . .
# COPY keeps the files' modification times, which can be older than the stub build's
# artifacts; touch the sources so cargo rebuilds the real crate.
RUN find src benches -name '*.rs' -exec touch {} + \
 && cargo build --release --locked --bin bedrock-cost-exporter \
 && install -D -m 0755 target/release/bedrock-cost-exporter /out/bedrock-cost-exporter

# ---------------------------------------------------------------------------------------------
# Runtime stage
# ---------------------------------------------------------------------------------------------
FROM debian:bookworm-slim

LABEL org.opencontainers.image.title="bedrock-cost-exporter" \
      org.opencontainers.image.description="Turns Amazon Bedrock model invocation logs into exact cost metrics for Prometheus" \
      org.opencontainers.image.licenses="Apache-2.0"

# The binary links glibc dynamically (same Debian release as the build stage); SQLite is
# compiled in (rusqlite "bundled"). ca-certificates is for HTTPS to AWS (Firehose export).
# Not pinned to an exact version: bookworm's ca-certificates only gets security/CA updates,
# and a pin would break the build at the next point release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# Fixed non-root uid/gid 10001 (Kubernetes runAsUser/fsGroup in deploy/k8s match it).
RUN groupadd --system --gid 10001 bedrock-cost \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin bedrock-cost \
 && mkdir -p /var/lib/bedrock-cost-exporter \
 && chown 10001:10001 /var/lib/bedrock-cost-exporter \
 && chmod 0700 /var/lib/bedrock-cost-exporter

COPY --from=build /out/bedrock-cost-exporter /usr/local/bin/bedrock-cost-exporter

# State store: state.db (SQLite) + lock file, and the Firehose dead-letter file.
# Declared after the chown so a fresh anonymous/named volume inherits the ownership.
VOLUME ["/var/lib/bedrock-cost-exporter"]

# In a container the listener must not be loopback-only. /metrics, /healthz and /readyz have
# no authentication: publish the port only inside your network. With a PostgreSQL store
# (--store or [store] url), set BEDROCK_COST_STATE_DIR= (empty counts as unset).
ENV BEDROCK_COST_LISTEN=0.0.0.0:9464 \
    BEDROCK_COST_STATE_DIR=/var/lib/bedrock-cost-exporter
EXPOSE 9464

USER 10001:10001

# No HEALTHCHECK: the image has no curl/wget (adding one only for this would grow the image
# and its attack surface) and the binary has no self-probe subcommand. Orchestrators probe
# over HTTP instead: liveness GET /healthz, readiness GET /readyz (503 while the store cannot
# commit); see deploy/k8s/deployment.yaml.

ENTRYPOINT ["bedrock-cost-exporter"]
# Default: follow JSON-lines invocation logs mounted at /logs (the daemon expands the glob
# itself and waits for matches). Override the arguments for other inputs, e.g.
#   run --log-format json --firehose-access-key-file /run/secrets/firehose-access-key
#   run --config /etc/bedrock-cost-exporter/config.toml
CMD ["run", "--log-format", "json", "--file", "/logs/*.jsonl"]
