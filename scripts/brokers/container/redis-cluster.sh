#!/bin/sh
# A three-master Redis Cluster in ONE container, for docker-compose.yml and the testcontainers fallback.
#
#   redis-cluster.sh PORT1 PORT2 PORT3      (default 7001 7002 7003)
#
# All three nodes live in the same network namespace and announce 127.0.0.1, so they reach each other
# over loopback and clients on the host reach them through ports published 1:1 (host port = node port).
# The cluster bus uses fixed ports 16001-16003 inside the container (never published), so node ports
# may be anything (port + 10000, the default bus port, overflows for ephemeral ports).
# Nothing is kept on disk: a new container is a new, empty cluster. Prints "omnibus redis cluster ready".
set -eu
p1="${1:-7001}"; p2="${2:-7002}"; p3="${3:-7003}"
dir="${REDIS_CLUSTER_DIR:-/tmp/omnibus-redis-cluster}"
bus=16000
for p in "$p1" "$p2" "$p3"; do
  bus=$((bus + 1))
  mkdir -p "$dir/$p"
  redis-server --port "$p" --bind 0.0.0.0 --protected-mode no --cluster-enabled yes --cluster-port "$bus" \
    --cluster-config-file "$dir/$p/nodes.conf" --cluster-node-timeout 5000 --cluster-announce-ip 127.0.0.1 \
    --save "" --appendonly no --dir "$dir/$p" --daemonize yes --pidfile "$dir/$p/redis.pid" \
    --logfile "$dir/$p/redis.log"
done
for p in "$p1" "$p2" "$p3"; do
  until redis-cli -p "$p" ping >/dev/null 2>&1; do sleep 0.1; done
done
redis-cli --cluster create "127.0.0.1:$p1" "127.0.0.1:$p2" "127.0.0.1:$p3" --cluster-yes >"$dir/create.log" 2>&1 ||
  { cat "$dir/create.log" >&2; exit 1; }
for p in "$p1" "$p2" "$p3"; do
  until redis-cli -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; do sleep 0.2; done
done
echo "omnibus redis cluster ready on 127.0.0.1:$p1,127.0.0.1:$p2,127.0.0.1:$p3"
# Stay in the foreground while the nodes run; stop them on SIGTERM (docker stop).
trap 'for p in "$p1" "$p2" "$p3"; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done; exit 0' TERM INT
while redis-cli -p "$p1" ping >/dev/null 2>&1; do sleep 5 & wait $!; done
echo "redis node $p1 stopped" >&2
exit 1
