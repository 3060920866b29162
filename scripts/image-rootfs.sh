#!/usr/bin/env bash
# image-rootfs.sh lays out the files of the sidewatch image from two static
# binaries, for both stages of the Dockerfile (build and prebuilt), make image
# and the task simulation:
#
#   DEST/rootfs/  the image tree; sidewatch carries cap_net_raw+ep
#   DEST/volume/  lib/fluent-bit/ and spool/, empty directories the prebuilt
#                 stage copies with --chown so that the launcher volume and
#                 the AWS sinks' spool volume are owned by 65532
#
# Usage: scripts/image-rootfs.sh BIN_DIR DEST_DIR
# BIN_DIR holds sidewatch and fluent-launch. Needs setcap (Debian
# libcap2-bin) and root or CAP_SETFCAP; CA_CERTS (default Debian's Mozilla
# set) is the directory of *.crt files bundled into the image.
set -euo pipefail

bin=${1:?usage: image-rootfs.sh BIN_DIR DEST_DIR}
dest=${2:?usage: image-rootfs.sh BIN_DIR DEST_DIR}
certs=${CA_CERTS:-/usr/share/ca-certificates/mozilla}
command -v setcap >/dev/null || { echo "image-rootfs.sh: needs setcap (Debian libcap2-bin)" >&2; exit 1; }
compgen -G "$certs/*.crt" >/dev/null || { echo "image-rootfs.sh: no CA certificates in $certs (Debian ca-certificates)" >&2; exit 1; }

root=$dest/rootfs
rm -rf "$root" "$dest/volume"
install -d -m 0755 "$root/etc/ssl/certs" "$root/usr/local/bin" "$root/usr/local/lib/sidewatch" \
	"$root/var/sidewatch/lib/fluent-bit" "$root/var/sidewatch/spool" \
	"$dest/volume/lib/fluent-bit" "$dest/volume/spool"
cat "$certs"/*.crt >"$root/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$root/etc/ssl/certs/ca-certificates.crt"

# The sidecar's --launcher-source, and the copy already in the VOLUME: one
# file with two names, so the image stores it once.
install -m 0755 "$bin/fluent-launch" "$root/usr/local/lib/sidewatch/fluent-launch"
ln "$root/usr/local/lib/sidewatch/fluent-launch" "$root/var/sidewatch/lib/fluent-bit/fluent-launch"

# Last: a later chown would clear security.capability.
install -m 0755 "$bin/sidewatch" "$root/usr/local/bin/sidewatch"
setcap cap_net_raw+ep "$root/usr/local/bin/sidewatch" ||
	{ echo "image-rootfs.sh: setcap needs root or CAP_SETFCAP" >&2; exit 1; }
