#!/usr/bin/env bash
# Make podman usable on this machine and build (once) the local Debian 12 test-host image:
# systemd as PID 1, python3 and sudo, so roles run against real systemd hosts.
#
#   scripts/testhost.sh image     # install podman/runc/debootstrap if missing, build image if missing
#   scripts/testhost.sh env       # print the environment lines other scripts source
#
# Why: there is no container registry here, so the image comes from debootstrap against the
# machine's own apt mirror; crun fails on this kernel's hybrid cgroups, so podman uses runc;
# container ulimits must not exceed the host's hard limits, so they are set once in containers.conf.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
IMAGE=${DSA_TESTHOST_IMAGE:-localhost/dsa-testhost:debian12-v1}
STATE=$ROOT/.cache/podman
CONF=$STATE/containers.conf
PACKAGES=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,ca-certificates,procps,iproute2,curl

die() { echo "testhost: $*" >&2; exit 1; }

# netavark and aardvark-dns give podman networks DNS (nodes resolve each other by name). podman
# only pulls them in when the CNI plugins are absent, and the local Kubernetes installs those.
PACKAGES_HOST=(podman runc debootstrap netavark aardvark-dns)

need_tools() {
  local missing=()
  for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  [ -x /usr/lib/podman/netavark ] || missing+=(netavark)
  [ -x /usr/lib/podman/aardvark-dns ] || missing+=(aardvark-dns)
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "needs ${missing[*]}; run as root (or install them: apt-get install ${PACKAGES_HOST[*]})"
  command -v apt-get >/dev/null || die "needs ${missing[*]} and there is no apt-get to install them"
  echo "testhost: installing ${missing[*]} (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${PACKAGES_HOST[@]}" >/dev/null
}

write_conf() {
  mkdir -p "$STATE"
  local nofile nproc
  nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
  [ "$nofile" = unlimited ] && nofile=1048576
  [ "$nproc" = unlimited ] && nproc=65536
  # Soft equal to hard and both within the host's hard limits, else setrlimit fails at start.
  # nproc above ~32k is refused here even below the hard limit; 4096 is plenty for test hosts.
  [ "$nofile" -gt 65536 ] && nofile=65536
  [ "$nproc" -gt 4096 ] && nproc=4096
  cat > "$CONF.new" <<CONF
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]

[engine]
runtime = "runc"

[network]
network_backend = "netavark"
CONF
  mv "$CONF.new" "$CONF"
}

debian_mirror() {
  if [ -n "${DSA_DEBIAN_MIRROR:-}" ]; then echo "$DSA_DEBIAN_MIRROR"; return; fi
  # The first main-archive URI the host's apt already uses.
  local uri
  uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | grep -v security | grep -oE 'https?://[^ ]+' | head -n 1)
  [ -n "$uri" ] || die "cannot find a Debian mirror in /etc/apt; set DSA_DEBIAN_MIRROR"
  echo "$uri"
}

build_image() {
  export CONTAINERS_CONF=$CONF
  if podman image exists "$IMAGE"; then return 0; fi
  [ "$(id -u)" -eq 0 ] || die "building the image needs root (debootstrap)"
  # global: the EXIT trap runs after this function returns
  ROOTFS=$(mktemp -d /var/tmp/dsa-rootfs.XXXXXX)
  trap 'rm -rf "${ROOTFS:-}"' EXIT
  echo "testhost: building $IMAGE with debootstrap (about a minute)"
  debootstrap --variant=minbase --include="$PACKAGES" bookworm "$ROOTFS" "$(debian_mirror)" >"$STATE/debootstrap.log" 2>&1 \
    || die "debootstrap failed; see $STATE/debootstrap.log"
  # Extra CAs the host trusts (e.g. an egress proxy's) so apt and pip inside hosts work as on the host.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
    chroot "$ROOTFS" update-ca-certificates >/dev/null 2>&1 || true
  fi
  # Container hosts: no getty on a console nobody reads, and journald in memory.
  chroot "$ROOTFS" systemctl mask getty@tty1.service console-getty.service systemd-remount-fs.service >/dev/null 2>&1 || true
  rm -f "$ROOTFS/etc/machine-id" && touch "$ROOTFS/etc/machine-id"
  apt_clean "$ROOTFS"
  tar -C "$ROOTFS" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/sbin/init"]' - "$IMAGE" >/dev/null 2>&1
  echo "testhost: built $IMAGE"
}

apt_clean() { rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*; }

case "${1:-image}" in
  image) need_tools; write_conf; build_image ;;
  env) echo "export CONTAINERS_CONF=$CONF DSA_TESTHOST_IMAGE=$IMAGE" ;;
  *) die "usage: $0 [image|env]" ;;
esac
