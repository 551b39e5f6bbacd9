#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests: `start DIR [PID]` runs initdb on DIR/data (trust
# authentication, loopback only), starts it on a free port of 127.0.0.1 with its socket in DIR,
# and prints the port; with PID, a watcher stops the server once that process is gone and
# deletes DIR (a test binary that exits or is killed leaves no server or files behind).
# `stop DIR` stops it; `restart DIR` stops it at once (if it runs) and starts it again on the
# same port.
# `start-tls DIR [PID]` is `start` with ssl=on: it first makes a throwaway CA (DIR/tls/ca.pem),
# a server certificate it signed for the name `localhost` only (not 127.0.0.1), and a second,
# unrelated CA (DIR/tls/other-ca.pem); the keys are made here and deleted with DIR.
# Root cannot run initdb: as root, the server runs as the `postgres` user (or $PG_USER).
# The binaries are Debian's (/usr/lib/postgresql/*/bin; scripts/install-peers.sh installs the
# `postgresql` package) or the first pg_ctl on PATH. Fails, never skips, when they are missing.
set -euo pipefail
cmd="${1:-}"; dir="${2:-}"
[[ -n "$cmd" && -n "$dir" ]] || { echo "usage: $0 start|start-tls DIR [PID] | stop DIR | restart DIR" >&2; exit 2; }

bin=""
for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/pg_ctl" && -x "$d/initdb" ]] && bin="$d"
done
if [[ -z "$bin" ]] && command -v pg_ctl >/dev/null; then
    bin="$(dirname "$(readlink -f "$(command -v pg_ctl)")")"
fi
[[ -n "$bin" ]] || { echo "postgres.sh: no PostgreSQL binaries (initdb, pg_ctl); run scripts/install-peers.sh" >&2; exit 1; }

as_user=()
if [[ "$(id -u)" -eq 0 ]]; then
    as_user=(runuser -u "${PG_USER:-postgres}" --)
fi
data="$dir/data"

# A self-signed CA named $2 in $1.pem (key $1.key).
make_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -keyout "$1.key" -out "$1.pem" -subj "/CN=$2" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}

# The CAs and the server's certificate in DIR/tls, and ssl=on in the server's configuration
# (so `restart` keeps it).
make_tls() {
    local t="$dir/tls"
    mkdir -p "$t"
    make_ca "$t/ca" "bce test CA"
    make_ca "$t/other-ca" "bce other test CA"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$t/server.key" -out "$t/server.csr" -subj "/CN=localhost"
    printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$t/server.ext"
    openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial \
        -days 2 -extfile "$t/server.ext" -out "$t/server.pem"
    # The server refuses a key others can read.
    chmod 600 "$t/server.key"
    [[ ${#as_user[@]} -eq 0 ]] || chown -R "${PG_USER:-postgres}" "$t"
    printf "ssl = on\nssl_cert_file = '%s'\nssl_key_file = '%s'\n" "$t/server.pem" "$t/server.key" >>"$data/postgresql.conf"
}

case "$cmd" in
start|start-tls)
    mkdir -p "$dir"
    [[ ${#as_user[@]} -eq 0 ]] || chown "${PG_USER:-postgres}" "$dir"
    "${as_user[@]}" "$bin/initdb" -D "$data" -U postgres -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    if [[ "$cmd" == start-tls ]]; then
        make_tls >"$dir/tls.log" 2>&1 || { cat "$dir/tls.log" >&2; exit 1; }
    fi
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "${as_user[@]}" "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c fsync=off -c full_page_writes=off" start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    if [[ -n "${3:-}" ]]; then
        watched="$3"
        nohup bash -c "while kill -0 $watched 2>/dev/null; do sleep 1; done; ${as_user[*]} '$bin/pg_ctl' -D '$data' -m immediate stop; rm -rf '$dir'" \
            >/dev/null 2>&1 </dev/null &
    fi
    echo "$port"
    ;;
stop)
    "${as_user[@]}" "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    ;;
restart)
    # Same port: a client sees its connection dropped, then the server back. A stopped
    # server is just started.
    if "${as_user[@]}" "$bin/pg_ctl" -D "$data" status >/dev/null; then
        "${as_user[@]}" "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null
    fi
    port="$(cat "$dir/port")"
    "${as_user[@]}" "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c fsync=off -c full_page_writes=off" start >/dev/null
    ;;
*) echo "usage: $0 start|start-tls DIR [PID] | stop DIR | restart DIR" >&2; exit 2 ;;
esac
