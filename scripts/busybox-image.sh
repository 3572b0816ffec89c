#!/usr/bin/env bash
# Test images without a registry: `shoal-busybox:1` and `shoal-busybox:2`, imported with `docker import` from a
# rootfs built around Debian's static busybox (one binary, an applet symlink per command in /bin, plus /etc/passwd
# and /etc/group so `User` and `id` work). The two tags differ only in /VERSION ("1" or "2"), which is what
# rolling-update tests read to tell old tasks from new. No CMD or ENTRYPOINT: every task names its command.
# Idempotent: a tag already present is left alone. Talks to DOCKER_HOST (default: scripts/dockerd.sh's socket).
set -euo pipefail

export DOCKER_HOST=${DOCKER_HOST:-unix:///run/shoal-docker.sock}
REPO=shoal-busybox

die() { echo "busybox-image.sh: $*" >&2; exit 1; }

BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || die "busybox not found: install Debian's busybox-static (apt-get install busybox-static)"
# A dynamically linked busybox would need its libraries inside the image.
if ldd "$BUSYBOX" >/dev/null 2>&1; then
  die "$BUSYBOX is dynamically linked: install Debian's busybox-static (apt-get install busybox-static)"
fi
if [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; else DOCKER=$(command -v docker || true); fi
[ -n "$DOCKER" ] || die "docker client not found: install Debian's docker.io (apt-get install docker.io)"
"$DOCKER" version >/dev/null 2>&1 || die "no Docker engine at $DOCKER_HOST: run scripts/dockerd.sh start"

build() {
  local tag=$1
  if "$DOCKER" image inspect "$REPO:$tag" >/dev/null 2>&1; then echo "$REPO:$tag already present"; return 0; fi
  local root; root=$(mktemp -d /tmp/shoal-busybox-rootfs.XXXXXX)
  trap 'rm -rf "$root"' RETURN
  mkdir -p "$root"/{bin,etc,tmp,root,proc,sys,dev,var/run}
  chmod 1777 "$root/tmp"
  cp "$BUSYBOX" "$root/bin/busybox"
  # busybox --install -s writes absolute links into the host's dirs; make relative ones inside the rootfs.
  for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  ln -s bin "$root/sbin"
  mkdir -p "$root/usr"; ln -s ../bin "$root/usr/bin"; ln -s ../bin "$root/usr/sbin"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  echo "$tag" >"$root/VERSION"
  tar -C "$root" -c . | "$DOCKER" import \
    --change 'ENV PATH=/bin:/sbin:/usr/bin:/usr/sbin' \
    --message "shoal test image $tag from $("$BUSYBOX" 2>&1 | head -n 1)" \
    - "$REPO:$tag" >/dev/null
  echo "$REPO:$tag imported"
}

build 1
build 2
