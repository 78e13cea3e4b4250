#!/usr/bin/env bash
# Real hosts: a small DHT of examples/node processes, each in its own
# network namespace, joined by veth pairs to a bridge in a "switch"
# namespace, with 10% packet loss on every host's inbound traffic. Keys set
# through examples/set on one host are read back with examples/get from
# every other host.
#
# Needs root and `ip netns`. Loss comes from `tc netem` when the kernel has
# it (with 20 ms delay), else from nftables (`numgen random mod 10 0 drop`;
# no delay: delay and reordering are covered by the simulated network in
# rpcudp/simnet). Without either it runs without loss and says so. All
# addresses live only inside the namespaces this script creates and
# deletes; nothing leaves them.
#
#   sudo bash .ci/netns-dht.sh            # 4 hosts, 4 keys
#   HOSTS=8 KEYS=10 bash .ci/netns-dht.sh
set -euo pipefail
cd "$(dirname "$0")/.."

HOSTS=${HOSTS:-4}
KEYS=${KEYS:-4}
NET=10.250.77
PFX=rpcudpdht$$

skip() { echo "netns-dht: SKIPPED: $*"; exit 0; }
[ "$(id -u)" = 0 ] || skip "needs root to create network namespaces (running as uid $(id -u))"
command -v ip >/dev/null || skip "iproute2 ('ip') is not installed"
ip netns add "${PFX}probe" 2>/dev/null || skip "this machine does not allow 'ip netns add'"
ip netns del "${PFX}probe"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ns in $(ip netns list | awk '{print $1}' | grep "^${PFX}" || true); do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "netns-dht: building examples"
go build -o "$work/node" ./examples/node
go build -o "$work/set" ./examples/set
go build -o "$work/get" ./examples/get

sw=${PFX}sw
ip netns add "$sw"
ip -n "$sw" link add br0 type bridge
ip -n "$sw" link set br0 up
for i in $(seq 1 "$HOSTS"); do
  ns=${PFX}h$i
  ip netns add "$ns"
  ip link add "${PFX:0:6}a$i" type veth peer name "${PFX:0:6}b$i"
  ip link set "${PFX:0:6}a$i" netns "$ns"
  ip link set "${PFX:0:6}b$i" netns "$sw"
  ip -n "$ns" link set "${PFX:0:6}a$i" name eth0
  ip -n "$ns" addr add "$NET.$i/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ip -n "$sw" link set "${PFX:0:6}b$i" master br0
  ip -n "$sw" link set "${PFX:0:6}b$i" up
done

# Impairment: netem if the kernel has it, else nftables.
impair="none"
if ip netns exec "${PFX}h1" tc qdisc add dev eth0 root netem loss 10% delay 20ms 2>/dev/null; then
  for i in $(seq 2 "$HOSTS"); do ip netns exec "${PFX}h$i" tc qdisc add dev eth0 root netem loss 10% delay 20ms; done
  impair="tc netem: 10% loss, 20 ms delay on every host's egress"
else
  if ! command -v nft >/dev/null && [ "${CI:-}" = "true" ] && command -v apt-get >/dev/null; then
    (apt-get install -y nftables >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y nftables >/dev/null 2>&1; }) || true
  fi
  if command -v nft >/dev/null; then
    for i in $(seq 1 "$HOSTS"); do
      ip netns exec "${PFX}h$i" nft add table inet loss
      ip netns exec "${PFX}h$i" nft add chain inet loss in '{ type filter hook input priority 0; }'
      ip netns exec "${PFX}h$i" nft add rule inet loss in udp dport 1-65535 numgen random mod 10 0 drop
    done
    impair="nftables: 10% of inbound UDP dropped on every host (this kernel has no netem, so no delay)"
  else
    impair="none (no netem in this kernel and no nftables installed)"
  fi
fi
echo "netns-dht: $HOSTS hosts on $NET.0/24; impairment: $impair"

port=8468
ip netns exec "${PFX}h1" "$work/node" -listen "$NET.1:$port" >"$work/node1.log" 2>&1 &
pids+=($!)
sleep 1
for i in $(seq 2 "$HOSTS"); do
  ip netns exec "${PFX}h$i" "$work/node" -listen "$NET.$i:$port" -i "$NET.1" -p "$port" >"$work/node$i.log" 2>&1 &
  pids+=($!)
done
sleep 2

attempt() { # run a command up to 3 times; print the output of the last try
  local out
  for _ in 1 2 3; do
    if out=$("$@" 2>/dev/null); then echo "$out"; return 0; fi
  done
  echo "$out"
  return 1
}

set_ok=0 found=0 wanted=0
for k in $(seq 1 "$KEYS"); do
  h=$(( (k % HOSTS) + 1 ))
  if attempt ip netns exec "${PFX}h$h" "$work/set" "$NET.$h" "$port" "key-$k" "value-$k" >/dev/null; then
    set_ok=$((set_ok + 1))
  else
    echo "netns-dht: set key-$k via host $h failed"
  fi
done
for k in $(seq 1 "$KEYS"); do
  for i in $(seq 1 "$HOSTS"); do
    wanted=$((wanted + 1))
    out=$(attempt ip netns exec "${PFX}h$i" "$work/get" "$NET.$i" "$port" "key-$k" || true)
    if [ "$out" = "Get result: value-$k" ]; then
      found=$((found + 1))
    else
      echo "netns-dht: host $i could not get key-$k: '$out'"
    fi
  done
done
echo "netns-dht: keys set $set_ok/$KEYS; gets found $found/$wanted across $HOSTS hosts ($impair)"
if [ "$set_ok" -ne "$KEYS" ] || [ "$found" -ne "$wanted" ]; then
  for i in $(seq 1 "$HOSTS"); do echo "--- node $i log"; tail -5 "$work/node$i.log"; done
  echo "netns-dht: FAILED"
  exit 1
fi
echo "netns-dht: passed"
