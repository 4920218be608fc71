#!/usr/bin/env bash
# Makes a stand-in for the node:20-bookworm-slim base image on a machine that reaches a Debian mirror and the npm
# registry but no image registry, so that `docker build` works there. What it holds is what the Dockerfile relies
# on in the official image:
#   - Debian bookworm, minimal (debootstrap --variant=minbase), from the mirror apt uses on this machine
#     (DEBIAN_MIRROR overrides it);
#   - this machine's Node 20 under /usr/local, and the npm Node 20 ships (10.x: this machine's when it is that,
#     otherwise installed from the npm registry), so the image's `npm ci` meets the npm it meets in production;
#   - a `node` user and group with uid and gid 1000;
#   - this machine's CA bundle at /etc/ssl/certs/ca-certificates.crt with NODE_EXTRA_CA_CERTS pointing at it, so
#     npm inside the build trusts whatever this machine trusts for the registry.
# Does nothing when the tag already exists (a real base image included). Needs root, docker and debootstrap.
#
#   bash deploy/stand-in-base-image.sh            # tags node:20-bookworm-slim
set -euo pipefail

tag="${1:-node:20-bookworm-slim}"
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag is already there"
  exit 0
fi

node_bin="$(command -v node)"
node_version="$("$node_bin" --version)"
case "$node_version" in
  v20.*) ;;
  *) echo "this machine's node is $node_version; the stand-in needs Node 20" >&2; exit 1 ;;
esac

if [ -z "${DEBIAN_MIRROR:-}" ]; then
  # The first non-security Debian source apt is configured with (deb822 .sources or one-line .list files).
  DEBIAN_MIRROR="$(
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
      | sed -n -e 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' -e 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\).*/\2/p' \
      | grep -E '/debian/?$' | head -n 1 || true
  )"
fi
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
started=$SECONDS

echo "debootstrap bookworm from $DEBIAN_MIRROR"
debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >"$rootfs.log" 2>&1 || { cat "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"

install -D -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
npm_dir="$(npm root --global)/npm"
npm_version="$(node -p "require('$npm_dir/package.json').version")"
mkdir -p "$rootfs/usr/local/lib/node_modules"
if [ "${npm_version%%.*}" = 10 ]; then
  cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
else
  echo "this machine's npm is $npm_version; installing npm 10, the one Node 20 ships"
  npm install --global --prefix "$rootfs/usr/local" --no-audit --no-fund npm@10 >/dev/null
fi

chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"

# As slim as the official image: no package lists, caches, documentation or locales.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
  "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*

tar --numeric-owner -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=${node_version#v}" \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["node"]' \
  --message "stand-in for $tag: Debian bookworm minbase, node $node_version" \
  - "$tag" >/dev/null
echo "$tag: stand-in made in $((SECONDS - started)) s ($(docker run --rm "$tag" sh -c 'echo node $(node --version), npm $(npm --version), uid $(id -u node)'))"
