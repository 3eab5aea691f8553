#!/usr/bin/env bash
# Real brokers for omnibus dev and CI, without Docker.
#
#   brokers.sh up                 start Kafka (KRaft) + ElasticMQ from Maven Central jars and a durable Redis
#                                 + a Redis Cluster from the machine's redis-server, make sure the machine's
#                                 RabbitMQ and Redis run, wait for readiness, write .brokers/brokers.env
#   brokers.sh down               stop only what `up` started (by pid file): Kafka, ElasticMQ, durable Redis,
#                                 Redis Cluster
#   brokers.sh status             print each broker's state
#   brokers.sh restart BROKER     restart one broker in place, keeping its data; returns once it serves
#                                 again. BROKER: kafka | amqp | redis (the durable one) | sqs
#
# Targets (BROKERS_ONLY, default all): kafka, sqs, amqp, redis, redis-durable, redis-cluster.
# Env knobs: OMNIBUS_CACHE (default ~/.cache/omnibus; jars in $OMNIBUS_CACHE/brokers/<name>/lib),
#            OMNIBUS_RUN_DIR (default /tmp/omnibus-brokers; data, logs, pid files — shared by every checkout),
#            OMNIBUS_BROKERS_ENV_FILE (default <repo>/.brokers/brokers.env),
#            BROKERS_TIMEOUT (seconds to wait for each broker, default 120),
#            KAFKA_VERSION (3.9.1; 4.x works too), KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093),
#            KAFKA_STOP_GRACE (seconds before SIGKILL, 30), ELASTICMQ_PORT (9324),
#            ELASTICMQ_PERSISTENCE (h2 | off), REDIS_DURABLE_PORT (6380), REDIS_DURABLE_FSYNC (everysec |
#            always), REDIS_CLUSTER_PORT (first of three, 7001), AMQP_PORT (5672; with RABBITMQ_NODENAME
#            for `restart amqp` on another node).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${OMNIBUS_CACHE:-$HOME/.cache/omnibus}/brokers"
RUN="${OMNIBUS_RUN_DIR:-/tmp/omnibus-brokers}"
TIMEOUT="${BROKERS_TIMEOUT:-120}"
TARGETS=(kafka sqs amqp redis redis-durable redis-cluster)
ONLY=",${BROKERS_ONLY:-$(IFS=,; echo "${TARGETS[*]}")},"
ENV_FILE="${OMNIBUS_BROKERS_ENV_FILE:-$ROOT/.brokers/brokers.env}"

ELASTICMQ_VERSION=1.7.1
EMQ_JARS=("org.elasticmq:elasticmq-server_2.13:$ELASTICMQ_VERSION")
MVN_DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.6.1

PROBE=(node "$HERE/src/probe.ts")

# shellcheck source=lib/common.sh
. "$HERE/lib/common.sh"
# shellcheck source=lib/kafka.sh
. "$HERE/lib/kafka.sh"
# shellcheck source=lib/elasticmq.sh
. "$HERE/lib/elasticmq.sh"
# shellcheck source=lib/machine.sh
. "$HERE/lib/machine.sh"
# shellcheck source=lib/redis.sh
. "$HERE/lib/redis.sh"

for target in ${ONLY//,/ }; do
  [[ " ${TARGETS[*]} " == *" $target "* ]] || die "BROKERS_ONLY: unknown target '$target' (known: ${TARGETS[*]})"
done

# ---------------------------------------------------------------- commands
# KEY=URL lines of the targets in BROKERS_ONLY, in a fixed order
env_lines() {
  want kafka && echo "KAFKA_URL=$KAFKA_URL"
  want amqp && echo "AMQP_URL=$AMQP_URL"
  want redis && echo "REDIS_URL=$REDIS_URL"
  want redis-durable && echo "REDIS_DURABLE_URL=$REDIS_DURABLE_URL"
  want redis-cluster && echo "REDIS_CLUSTER_URL=$REDIS_CLUSTER_URL"
  want sqs && echo "SQS_URL=$SQS_URL"
  true
}

# Rewrite the env file: drop the keys of the targets in BROKERS_ONLY, keep the others' lines, then
# add ours (up) or not (down).
update_env() {
  local mode="$1" keys
  keys="$(env_lines | cut -d= -f1 | paste -sd'|' -)"
  mkdir -p "$(dirname "$ENV_FILE")"
  {
    echo "# written by scripts/brokers/brokers.sh $mode — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    if [[ -f "$ENV_FILE" ]]; then grep -v '^#' "$ENV_FILE" | grep -Ev "^(${keys:-\$})=" || true; fi
    if [[ "$mode" == up ]]; then env_lines; fi
  } >"$ENV_FILE.tmp.$$"
  mv "$ENV_FILE.tmp.$$" "$ENV_FILE"
}

cmd_up() {
  local t0; t0=$(now_ms)
  mkdir -p "$RUN"
  local failed=()
  # Fetch jars first, one maven at a time (they share ~/.m2), then start the two JVMs in parallel.
  want kafka && kafka_fetch
  want sqs && fetch_jars elasticmq "${EMQ_JARS[@]}"
  local pk="" ps=""
  want kafka && { kafka_up & pk=$!; }
  want sqs && { sqs_up & ps=$!; }
  want amqp && { amqp_up || failed+=(amqp); }
  want redis && { redis_up || failed+=(redis); }
  want redis-durable && { redis_durable_up || failed+=(redis-durable); }
  want redis-cluster && { redis_cluster_up || failed+=(redis-cluster); }
  [[ -n "$pk" ]] && { wait "$pk" || failed+=(kafka); }
  [[ -n "$ps" ]] && { wait "$ps" || failed+=(sqs); }
  if ((${#failed[@]})); then die "not ready: ${failed[*]} (run dir $RUN)"; fi
  update_env up
  echo "brokers ready in $(secs_since "$t0") — env file: $ENV_FILE"
  env_lines | while IFS= read -r line; do echo "  $(redact "$line")"; done
}

cmd_down() {
  want kafka && kafka_stop
  want sqs && sqs_stop
  want redis-durable && redis_durable_stop
  want redis-cluster && redis_cluster_stop
  # Drop the stopped brokers from the env file, so tests skip them instead of failing to connect.
  local stopped="," target
  for target in kafka sqs redis-durable redis-cluster; do want "$target" && stopped+="$target,"; done
  if [[ -f "$ENV_FILE" ]]; then ONLY="$stopped" update_env down; fi
  log "RabbitMQ and Redis are machine services: left running"
}

cmd_restart() {
  local target="${1:-}" url t0; t0=$(now_ms)
  case "$target" in
    kafka) kafka_restart; target=kafka; url="$KAFKA_URL" ;;
    amqp | rabbitmq) amqp_restart; target=amqp; url="$AMQP_URL" ;;
    # The machine's Redis keeps nothing on disk: a restart would lose everything, so `redis` is the durable one.
    redis | redis-durable) redis_durable_restart; target=redis-durable; url="$REDIS_DURABLE_URL" ;;
    sqs | elasticmq) sqs_restart; target=sqs; url="$SQS_URL" ;;
    *) echo "usage: $0 restart kafka|amqp|redis|sqs" >&2; exit 2 ;;
  esac
  echo "$target restarted in $(secs_since "$t0"), serving again at $(redact "$url")"
}

status_line() {
  local kind="$1" label="$2" url="$3" owner="$4" state why
  if why="$(probe "$kind" "$url" 2>&1)"; then state="UP"; else state="DOWN ($why)"; fi
  printf '%-14s %-46s %s [%s]\n' "$label" "$(redact "$url")" "$state" "$owner"
}

# owner PIDFILE -> who started it
owner() {
  if pid_alive "$1"; then echo "started by brokers.sh, pid $(cat "$1")"; else echo "no process started by brokers.sh"; fi
}

cmd_status() {
  want kafka && status_line kafka "kafka" "$KAFKA_URL" "$(owner "$KAFKA_PID"), Kafka $KAFKA_VERSION"
  want amqp && status_line amqp rabbitmq "$AMQP_URL" "machine service"
  want redis && status_line redis redis "$REDIS_URL" "machine service, nothing on disk"
  want redis-durable && status_line redis-durable redis-durable "$REDIS_DURABLE_URL" "$(owner "$RD_PID")$(pid_alive "$RD_PID" && echo ", AOF $(sed -n 's/^appendfsync //p' "$RD_DIR/redis.conf")")"
  want redis-cluster && status_line redis-cluster redis-cluster "$REDIS_CLUSTER_URL" "$(redis_cluster_owner)"
  want sqs && status_line sqs elasticmq "$SQS_URL" "$(owner "$EMQ_PID")$(pid_alive "$EMQ_PID" && echo ", $(emq_running_persistence)")"
  echo "cache: $CACHE  run dir: $RUN  env file: $ENV_FILE$([[ -f "$ENV_FILE" ]] || echo ' (absent)')"
}

# One up/down/restart at a time per run dir (two agents running `up` together must not start two Kafkas).
lock() {
  mkdir -p "$RUN"
  exec 9>"$RUN/.lock"
  if command -v flock >/dev/null; then
    flock -w "$TIMEOUT" 9 || die "another brokers.sh holds $RUN/.lock"
  fi
}

case "${1:-}" in
  up) lock; cmd_up ;;
  down) lock; cmd_down ;;
  status) cmd_status ;;
  restart) lock; cmd_restart "${2:-}" ;;
  *) echo "usage: $0 up|down|status|restart <kafka|amqp|redis|sqs>" >&2; exit 2 ;;
esac
