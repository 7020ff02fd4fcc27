#!/usr/bin/env bash
# `make run`: Airflow (api-server, scheduler, dag-processor, triggerer) on this machine with the example DAG
# folder, the local backend and an SQLite database inside the repository. Ctrl-C stops every process.
#
# Settings (environment): TASKSPEC_AIRFLOW_HOME (default ./.airflow), TASKSPEC_PORT (default 8080),
# TASKSPEC_DAGS (default ./dags).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export AIRFLOW_HOME=${TASKSPEC_AIRFLOW_HOME:-$repo/.airflow}
port=${TASKSPEC_PORT:-8080}
export AIRFLOW__CORE__DAGS_FOLDER=${TASKSPEC_DAGS:-$repo/dags}
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM=${AIRFLOW__CORE__PARALLELISM:-4}
export AIRFLOW__API__PORT=$port
export AIRFLOW__API__HOST=${TASKSPEC_HOST:-127.0.0.1}
export AIRFLOW__API__BASE_URL=http://localhost:$port
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}
export AIRFLOW__TASKSPEC__BACKEND=${AIRFLOW__TASKSPEC__BACKEND:-local}
export PATH="$repo/.venv/bin:$PATH"
mkdir -p "$AIRFLOW_HOME"

airflow db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/migrate.log"; exit 1; }

# standalone's LocalExecutor workers ignore SIGTERM from their parent alone: run it in its own process group
# and stop the whole group.
setsid airflow standalone >"$AIRFLOW_HOME/standalone.log" 2>&1 &
pgid=$!
stop() {
  trap - INT TERM EXIT
  echo "stopping Airflow (process group $pgid)..."
  kill -TERM -- "-$pgid" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 -- "-$pgid" 2>/dev/null || { echo "stopped"; exit 0; }; sleep 1; done
  kill -KILL -- "-$pgid" 2>/dev/null || true
  echo "stopped (killed)"
  exit 0
}
trap stop INT TERM EXIT

for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$port/api/v2/monitor/health" >/dev/null 2>&1; then break; fi
  kill -0 "$pgid" 2>/dev/null || { echo "Airflow exited; see $AIRFLOW_HOME/standalone.log"; tail -40 "$AIRFLOW_HOME/standalone.log"; exit 1; }
  sleep 1
done
password=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("admin",""))' \
  "$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated" 2>/dev/null || true)
cat <<MSG

  Airflow is running with the taskspec example DAGs (local backend).
  UI:     http://localhost:$port
  Login:  admin / ${password:-see $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated}
  DAGs:   $AIRFLOW__CORE__DAGS_FOLDER
  Logs:   $AIRFLOW_HOME/standalone.log
  Stop:   Ctrl-C

MSG
wait "$pgid"
