# RabbitMQ and Redis: the machine's own services — sourced by brokers.sh.
# shellcheck shell=bash

# AMQP_PORT / RABBITMQ_NODENAME (rabbitmqctl's own) point at another node, e.g. a second one for experiments.
AMQP_PORT="${AMQP_PORT:-5672}"
AMQP_URL="amqp://guest:guest@127.0.0.1:$AMQP_PORT"
REDIS_URL=redis://127.0.0.1:6379

rabbitmq_log() { find /var/log/rabbitmq -maxdepth 1 -name '*.log' ! -name '*upgrade*' 2>/dev/null | head -n1; }

amqp_up() {
  if probe amqp "$AMQP_URL" >/dev/null 2>&1; then
    log "rabbitmq: running"
  else
    command -v rabbitmq-server >/dev/null || { fail_report amqp "no AMQP broker on 127.0.0.1:$AMQP_PORT and rabbitmq-server is not installed (set AMQP_URL or use docker compose)" ""; return 1; }
    log "rabbitmq: not answering, starting the machine's rabbitmq-server"
    rabbitmq-server -detached >/dev/null 2>&1 9>&- || true
    timeout "$TIMEOUT" rabbitmqctl await_startup >/dev/null 2>&1 || true
    wait_ready amqp "$AMQP_URL" "" "$(rabbitmq_log)" || return 1
  fi
  amqp_hash_plugin
}

# The consistent-hash exchange (the adapter's routing=hash mode, tested in CI): enabled on the running
# node, no restart, recorded in its enabled-plugins file. Skipped where rabbitmq-plugins is not ours to run.
amqp_hash_plugin() {
  command -v rabbitmq-plugins >/dev/null || { log "rabbitmq: rabbitmq-plugins not installed: routing=hash needs rabbitmq_consistent_hash_exchange enabled"; return 0; }
  if timeout "$TIMEOUT" rabbitmq-plugins enable rabbitmq_consistent_hash_exchange >/dev/null 2>&1; then
    log "rabbitmq: rabbitmq_consistent_hash_exchange enabled"
  else
    log "rabbitmq: could not enable rabbitmq_consistent_hash_exchange (routing=hash will say so)"
  fi
}

# Stops and starts the RabbitMQ application inside the running Erlang node: durable exchanges, durable
# and quorum queues and their persistent messages come back; transient queues and connections do not.
amqp_restart() {
  command -v rabbitmqctl >/dev/null || die "rabbitmq: rabbitmqctl not installed (restarting a RabbitMQ elsewhere is up to whoever runs it)"
  local t0; t0=$(now_ms)
  timeout "$TIMEOUT" rabbitmqctl stop_app >/dev/null 2>&1 || die "rabbitmq: rabbitmqctl stop_app failed (rabbitmqctl status says why)"
  log "rabbitmq: application stopped in $(secs_since "$t0")"
  if ! timeout "$TIMEOUT" rabbitmqctl start_app >/dev/null 2>&1; then
    log "rabbitmq: start_app failed, trying once more"
    timeout "$TIMEOUT" rabbitmqctl start_app >/dev/null 2>&1 \
      || die "rabbitmq: the application is STOPPED and start_app fails — run 'rabbitmqctl start_app' (log: $(rabbitmq_log))"
  fi
  timeout "$TIMEOUT" rabbitmqctl await_startup >/dev/null 2>&1 || true
  wait_ready amqp "$AMQP_URL" "" "$(rabbitmq_log)"
}

redis_up() {
  if probe redis "$REDIS_URL" >/dev/null 2>&1; then log "redis: running"; return 0; fi
  command -v redis-server >/dev/null || { fail_report redis "no Redis on 127.0.0.1:6379 and redis-server is not installed (set REDIS_URL or use docker compose)" ""; return 1; }
  log "redis: not answering, starting the machine's redis-server"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 9>&- || true
  wait_ready redis "$REDIS_URL" "" /var/log/redis/ci.log
}
