#!/usr/bin/env bash
# `make run`: Airflow (api-server, scheduler, dag-processor, triggerer) on this machine with the example DAG
# folder, the local backend and an SQLite database inside the repository. Ctrl-C stops every process.
#
# Settings (environment): TASKSPEC_AIRFLOW_HOME (default ./.airflow), TASKSPEC_PORT (default 8080),
# TASKSPEC_HOST (default 127.0.0.1), TASKSPEC_DAGS (default ./dags).
#
# The settings are written into the Airflow home's airflow.cfg, not only exported, so every other `airflow`
# command run with the same AIRFLOW_HOME (the README's `airflow dags test ...`) sees the same DAG folder and
# no example DAGs.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export AIRFLOW_HOME=${TASKSPEC_AIRFLOW_HOME:-$repo/.airflow}
port=${TASKSPEC_PORT:-8080}
host=${TASKSPEC_HOST:-127.0.0.1}
dags=${TASKSPEC_DAGS:-$repo/dags}
export PATH="$repo/.venv/bin:$PATH"

say() { printf '%s\n' "$*" >&2 2>/dev/null || true; }

# A UI port that is taken would only show up as an api-server crash after "Airflow is running".
if ! python3 - "$host" "$port" <<'PY'
import socket, sys
with socket.socket() as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((sys.argv[1], int(sys.argv[2])))
    except OSError as exc:
        sys.exit(f"run.sh: cannot use {sys.argv[1]}:{sys.argv[2]} for the Airflow UI: {exc.strerror}")
PY
then
  say "run.sh: port $port is already in use; stop what listens there or choose another port: TASKSPEC_PORT=8081 make run"
  exit 1
fi

mkdir -p "$AIRFLOW_HOME"
# Airflow writes its default airflow.cfg (with a generated Fernet key and JWT secret that every component must
# share) when it first runs; let it, then set our options in that file.
[[ -f "$AIRFLOW_HOME/airflow.cfg" ]] || airflow config get-value core dags_folder >/dev/null 2>&1 || true
python3 - "$AIRFLOW_HOME/airflow.cfg" <<PY
import configparser, sys
path = sys.argv[1]
cfg = configparser.ConfigParser(interpolation=None)
cfg.optionxform = str  # keep option names as written
cfg.read(path)
wanted = {
    "core": {
        "dags_folder": "$dags",
        "load_examples": "False",
        "parallelism": "${AIRFLOW__CORE__PARALLELISM:-4}",
        "simple_auth_manager_users": "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}",
    },
    "api": {"port": "$port", "host": "$host", "base_url": "http://localhost:$port"},
    "dag_processor": {"refresh_interval": "${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}"},
    "taskspec": {"backend": "${AIRFLOW__TASKSPEC__BACKEND:-local}"},
}
if not cfg.get("api_auth", "jwt_secret", fallback=""):
    import secrets
    # Without one shared secret each component signs its own tokens and the others reject them.
    wanted["api_auth"] = {"jwt_secret": secrets.token_urlsafe(32)}
parsing = configparser.ConfigParser(interpolation=None)
parsing.read("$repo/scripts/airflow-parsing.cfg")
for section in parsing.sections():
    wanted.setdefault(section, {}).update(parsing[section])
for section, options in wanted.items():
    if not cfg.has_section(section):
        cfg.add_section(section)
    for key, value in options.items():
        cfg.set(section, key, value)
with open(path, "w") as fh:
    cfg.write(fh)
PY
# The environment wins over airflow.cfg: drop what a caller exported so the file above is what runs.
unset AIRFLOW__CORE__DAGS_FOLDER AIRFLOW__CORE__LOAD_EXAMPLES AIRFLOW__API__PORT AIRFLOW__API__HOST \
  AIRFLOW__API__BASE_URL

airflow db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/migrate.log"; exit 1; }

# standalone's LocalExecutor workers ignore SIGTERM from their parent alone: run it in its own process group
# and stop the whole group.
setsid airflow standalone >"$AIRFLOW_HOME/standalone.log" 2>&1 &
pgid=$!
stop() {
  # With `make run | tee run.log`, Ctrl-C kills tee too: writing to the closed pipe must not end this handler
  # before the process group is stopped.
  trap - INT TERM EXIT
  trap '' PIPE
  set +e
  say "stopping Airflow (process group $pgid)..."
  kill -TERM -- "-$pgid" 2>/dev/null
  for _ in $(seq 1 30); do kill -0 -- "-$pgid" 2>/dev/null || { say "stopped"; exit 0; }; sleep 1; done
  kill -KILL -- "-$pgid" 2>/dev/null
  say "stopped (killed)"
  exit 0
}
trap stop INT TERM EXIT

healthy=0
for _ in $(seq 1 180); do
  if curl -fsS "http://127.0.0.1:$port/api/v2/monitor/health" >/dev/null 2>&1; then healthy=1; break; fi
  kill -0 "$pgid" 2>/dev/null || { say "Airflow exited; see $AIRFLOW_HOME/standalone.log"; tail -40 "$AIRFLOW_HOME/standalone.log" >&2; exit 1; }
  sleep 1
done
if [[ $healthy -ne 1 ]]; then
  say "Airflow did not answer on port $port within 180 s; see $AIRFLOW_HOME/standalone.log"
  exit 1
fi
password=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("admin",""))' \
  "$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated" 2>/dev/null || true)
cat <<MSG || true

  Airflow is running with the taskspec example DAGs (local backend).
  UI:     http://localhost:$port
  Login:  admin / ${password:-see $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated}
  DAGs:   $dags
  Logs:   $AIRFLOW_HOME/standalone.log
  Stop:   Ctrl-C

  In another shell:  export AIRFLOW_HOME=$AIRFLOW_HOME PATH=$repo/.venv/bin:\$PATH

MSG
wait "$pgid"
