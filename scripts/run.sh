#!/usr/bin/env bash
# The main job: set up, start the embedded PostgreSQL (unless DATABASE_URL is set), migrate, backfill recent
# history, run the simulator + lite ingestion live, and serve the dashboard on http://localhost:8501.
#   bash scripts/run.sh            in-process ingestion (`python -m ingestion run`): simulator -> processor -> DB
#   MQTT=1 bash scripts/run.sh     through a real Mosquitto started from deploy/mosquitto/mosquitto.conf:
#                                  `ingestion simulate --transport mqtt` -> broker -> `ingestion consume` -> DB
#   MQTT=tls bash scripts/run.sh   the same, the simulator and the consumer connecting to the broker's TLS
#                                  listener with their own credentials (secrets made once in .data/mqtt-tls by
#                                  `python -m scripts.mqtt_broker secrets`: CA, certificate, passwords, ACL)
# Every long-running program runs under `python -m ingestion.supervisor`: a crash of one is logged and that
# program alone is restarted (backoff 1 s -> 30 s); the others, the broker and the database keep running. The
# embedded PostgreSQL has a watchdog (`python -m db watch`) that starts it again if it dies.
# Ctrl-C / SIGTERM stops everything cleanly, in order: programs, then the broker, then the database; the data
# stays in .data/ for the next start.
# Settings: PORT (dashboard, 8501), BACKFILL (history, 7d; 0 = none), MQTT (0|1|tls), MQTT_PORT (18830),
# MQTT_DATA (the broker's rendered configuration and database, .data/mosquitto); with MQTT=tls also
# MQTT_TLS_PORT (18883), MQTT_TLS_ADDRESS (127.0.0.1; 0.0.0.0 to let devices on the network in), MQTT_TLS_DIR
# (.data/mqtt-tls).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh run

PORT="${PORT:-8501}"
BACKFILL="${BACKFILL:-7d}"
MQTT="${MQTT:-0}"
MQTT_PORT="${MQTT_PORT:-18830}"
MQTT_DATA="${MQTT_DATA:-$PWD/.data/mosquitto}"
MQTT_TLS_PORT="${MQTT_TLS_PORT:-18883}"
MQTT_TLS_ADDRESS="${MQTT_TLS_ADDRESS:-127.0.0.1}"
MQTT_TLS_DIR="${MQTT_TLS_DIR:-$PWD/.data/mqtt-tls}"
PY=.venv/bin/python
embedded() { [ -z "${DATABASE_URL:-}" ]; }

# supervise NAME COMMAND...: run COMMAND under the supervisor, in the background; sets $started to its pid.
# A background job of a script starts with SIGINT ignored and the supervisor keeps it so (its children run in
# sessions of their own): a Ctrl-C reaches this script only, which then stops everything in order.
supervise() {
  local name="$1"
  shift
  "$PY" -m ingestion.supervisor --name "$name" -- "$@" &
  started=$!
}

apps=() broker=() watchdog=()
stop_all() {  # SIGTERM to these supervisors (each forwards it to its program), then wait for them
  local pid
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}
cleanup() {
  trap - EXIT INT TERM
  echo "Madinina Monitor: stopping"
  stop_all "${apps[@]}"      # ingestion and dashboard first: they flush and acknowledge
  stop_all "${broker[@]}"    # then the broker (saves its queues on the way out)
  stop_all "${watchdog[@]}"  # then the database watchdog, so that it does not restart what we stop next
  if embedded; then "$PY" -m db stop || true; fi  # the database last
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT TERM

"$PY" -m db up
if embedded; then
  supervise db-watch "$PY" -m db watch
  watchdog+=("$started")
fi

if [ "$MQTT" = 1 ] || [ "$MQTT" = tls ]; then
  mosquitto_bin="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
  [ -x "$mosquitto_bin" ] || { echo "MQTT=$MQTT needs Mosquitto: apt-get install mosquitto (or scripts/setup.sh dev)" >&2; exit 1; }
  # The TLS secrets (scripts/mqtt_broker.py): a CA and certificate by openssl, the password file by mosquitto_passwd.
  [ "$MQTT" != tls ] || command -v openssl >/dev/null || { echo "MQTT=tls needs openssl: apt-get install openssl (or scripts/setup.sh dev)" >&2; exit 1; }
  # The shipped configuration (deploy/mosquitto/mosquitto.conf), with exactly its substitutable lines set: the
  # port and the persistence dir; with MQTT=tls also its TLS section switched on.
  mqtt_dir="$(realpath -m "$MQTT_DATA")"
  mkdir -p "$mqtt_dir/data"
  render=(--port "$MQTT_PORT" --data "$mqtt_dir/data")
  # How the consumer and the simulator reach the broker: the loopback listener, or TLS with their own accounts.
  client_args=(--mqtt-port "$MQTT_PORT")
  consumer_args=() simulator_args=()
  if [ "$MQTT" = tls ]; then
    "$PY" -m scripts.mqtt_broker secrets --dir "$MQTT_TLS_DIR"
    render+=(--tls-port "$MQTT_TLS_PORT" --tls-address "$MQTT_TLS_ADDRESS" --tls-dir "$MQTT_TLS_DIR")
    client_args=(--mqtt-host 127.0.0.1 --mqtt-port "$MQTT_TLS_PORT" --mqtt-ca "$MQTT_TLS_DIR/ca.crt")
    consumer_args=(--mqtt-username madinina-consumer
                   --mqtt-password-file "$MQTT_TLS_DIR/clients/madinina-consumer.password")
    simulator_args=(--mqtt-username madinina-simulator
                    --mqtt-password-file "$MQTT_TLS_DIR/clients/madinina-simulator.password")
  fi
  "$PY" -m scripts.mqtt_broker render "${render[@]}" > "$mqtt_dir/mosquitto.conf"
  if [ "$(id -u)" -eq 0 ] && id mosquitto >/dev/null 2>&1; then
    # As root Mosquitto drops to the `mosquitto` user, which must write its database and reach it.
    chown mosquitto: "$mqtt_dir/data"
    d="$mqtt_dir"; while [ "$d" != / ]; do chmod o+x "$d"; d="$(dirname "$d")"; done
  fi
  supervise mosquitto "$mosquitto_bin" -c "$mqtt_dir/mosquitto.conf"
  broker+=("$started")
  for _ in $(seq 150); do  # wait (15 s at most) until the broker listens
    (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT") 2>/dev/null && break
    sleep 0.1
  done
  # The consumer's persistent session must exist before the simulator publishes its first message (on the
  # very first start only; afterwards the broker keeps it in its database).
  "$PY" - "${client_args[@]}" "${consumer_args[@]}" <<'EOF' || echo "warning: could not create the consumer's MQTT session in advance" >&2
import argparse, sys, threading
from ingestion.transports.mqtt import add_mqtt_args, mqtt_config, new_client
from ingestion.transports.topics import SUBSCRIPTION
parser = argparse.ArgumentParser()
add_mqtt_args(parser)
config = mqtt_config(parser.parse_args())
done = threading.Event()
c = new_client(config, client_id="madinina-run", clean_session=False)
c.on_connect = lambda client, *_: client.subscribe(SUBSCRIPTION, qos=1)
c.on_subscribe = lambda *_: done.set()
c.connect(config.host, config.port)
c.loop_start()
ok = done.wait(15)
c.disconnect()
c.loop_stop()
sys.exit(0 if ok else 1)
EOF
  supervise consume "$PY" -m ingestion consume "${client_args[@]}" "${consumer_args[@]}" --client-id madinina-run
  apps+=("$started")
  supervise simulate "$PY" -m ingestion simulate --transport mqtt "${client_args[@]}" "${simulator_args[@]}"
  apps+=("$started")
else
  supervise ingestion "$PY" -m ingestion run
  apps+=("$started")
fi
if [ "$BACKFILL" != 0 ]; then
  # A one-shot (exit 0 = done, not restarted), apart from the live path so that a restart of the live
  # ingestion never redoes it.
  supervise backfill "$PY" -m ingestion backfill "$BACKFILL"
  apps+=("$started")
fi
supervise dashboard .venv/bin/streamlit run app.py --server.port "$PORT" --server.headless true
apps+=("$started")
echo "Madinina Monitor: http://localhost:$PORT  (Ctrl-C to stop)"
wait
