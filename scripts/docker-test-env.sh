#!/usr/bin/env bash
# A real Docker engine for the docker-mode tests, and the local images they use.
#
#   scripts/docker-test-env.sh up     install docker.io if missing, start dockerd, build the images
#   scripts/docker-test-env.sh down   stop the dockerd this script started (by its pid file)
#
# No registry is reachable here, so nothing is pulled: a Debian base image is made
# with debootstrap and imported once, Python wheels are downloaded on the host
# (which reaches PyPI) and installed offline in the image. Both are cached in
# $CHAOS_DOCKER_CACHE (default /var/cache/chaoslib-docker); later runs only
# rebuild the layers whose files changed.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${CHAOS_DOCKER_CACHE:-/var/cache/chaoslib-docker}
PIDFILE="$CACHE/dockerd.pid"
mkdir -p "$CACHE"

say() { printf '[docker-test-env] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

install_engine() {
  command -v dockerd >/dev/null && command -v docker-compose >/dev/null && command -v debootstrap >/dev/null && return
  [ "$(id -u)" = 0 ] || die "docker.io is not installed and this is not root: install docker.io, docker-compose and debootstrap"
  say "installing docker.io, docker-compose and debootstrap"
  local own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
  fi
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      docker.io docker-compose debootstrap iptables) >"$CACHE/apt.log" 2>&1 \
    || { [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d; die "apt-get failed; see $CACHE/apt.log"; }
  [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  return 0
}

start_engine() {
  if docker info >/dev/null 2>&1; then say "engine already running"; return; fi
  say "starting dockerd (log: $CACHE/dockerd.log)"
  setsid nohup dockerd --pidfile "$PIDFILE" >"$CACHE/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 150); do docker info >/dev/null 2>&1 && return; sleep 0.2; done
  tail -20 "$CACHE/dockerd.log" >&2 || true
  die "dockerd did not answer within 30 s (log above)"
}

mirror() {
  local uri
  uri=$(grep -hm1 '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}') || true
  echo "${uri:-http://deb.debian.org/debian}"
}

base_image() {
  docker image inspect local/debian:bookworm >/dev/null 2>&1 && return
  say "debootstrap bookworm from $(mirror) (about 30 s)"
  rm -rf "$CACHE/rootfs"
  debootstrap --variant=minbase bookworm "$CACHE/rootfs" "$(mirror)" >"$CACHE/debootstrap.log" 2>&1 \
    || die "debootstrap failed; see $CACHE/debootstrap.log"
  tar -C "$CACHE/rootfs" -c . | docker import - local/debian:bookworm >/dev/null
  rm -rf "$CACHE/rootfs"
}

wheels() {
  local dir="$CACHE/base-context"
  mkdir -p "$dir/wheels"
  cp docker/base.Dockerfile "$dir/Dockerfile"
  cp docker/requirements.txt "$dir/requirements.txt"
  if [ ! -e "$dir/wheels/.done" ] || ! cmp -s docker/requirements.txt "$dir/wheels/.done"; then
    say "downloading wheels for the images"
    python3 -m pip download -q -d "$dir/wheels" --only-binary=:all: --python-version 3.11 \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
      --implementation cp -r docker/requirements.txt || die "pip download failed"
    cp docker/requirements.txt "$dir/wheels/.done"
  fi
}

build() {
  base_image
  wheels
  say "building chaoslib/base:local"
  docker build -q -t chaoslib/base:local "$CACHE/base-context" >/dev/null
  for name in app toxiproxy redis timescaledb; do
    say "building chaoslib/$name:local"
    docker build -q -t "chaoslib/$name:local" -f "docker/$name.Dockerfile" . >/dev/null
  done
}

case "${1:-up}" in
  up) install_engine; start_engine; build; say "ready: $(docker version -f '{{.Server.Version}}')" ;;
  down)
    if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      kill "$(cat "$PIDFILE")"; say "stopped dockerd $(cat "$PIDFILE")"
    else say "no dockerd started by this script"; fi ;;
  *) die "usage: $0 up|down" ;;
esac
