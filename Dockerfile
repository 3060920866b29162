# sidewatch sidecar image: FROM scratch, two static binaries, CA certificates.
#
#   docker build -t sidewatch .                    # compiles in a golang stage
#   make image                                     # buildah, binaries built by make
#
# BINARIES selects where the binaries come from:
#   build    (default) compile them in the golang stage below; needs the
#            golang and Debian images, like any Docker user has.
#   prebuilt take the tree that `make image` laid out with
#            scripts/image-rootfs.sh in bin/linux-<arch>/ (rootfs/ with
#            sidewatch already carrying cap_net_raw+ep, and volume/).
#            Builds where no base image can be pulled (CI) use this.
# Either way the final stage is the same: see docs/image.md.

ARG BINARIES=build
ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum* ./
RUN go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -tags sidecaronly \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/ ./cmd/sidewatch ./cmd/fluent-launch
# The same tree as make image: scripts/image-rootfs.sh.
RUN scripts/image-rootfs.sh /out / \
 && chown 65532:65532 /rootfs/var/sidewatch/lib/fluent-bit /rootfs/var/sidewatch/spool

FROM scratch AS prebuilt
ARG TARGETARCH
COPY bin/linux-${TARGETARCH}/rootfs/ /rootfs/
# Copying the directory entry again with --chown is the shell-less chown.
COPY --chown=65532:65532 bin/linux-${TARGETARCH}/volume/ /rootfs/var/sidewatch/

FROM ${BINARIES} AS binaries

FROM scratch
ARG VERSION=dev
LABEL org.opencontainers.image.title="sidewatch" \
      org.opencontainers.image.description="Security sidecar for AWS ECS Fargate tasks: flows and logs as EVE JSON" \
      org.opencontainers.image.source="https://github.com/sidewatch/sidewatch" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=binaries /rootfs/ /
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# The log_router mounts this with volumesFrom; ECS copies the image's
# fluent-launch into it, so it is there before the sidecar starts.
VOLUME /var/sidewatch/lib/fluent-bit
# The AWS sinks' disk spool (--spool-dir): writable under a read-only root
# filesystem, and kept across a restart of the sidecar within the task.
VOLUME /var/sidewatch/spool
# Non-root. sidewatch carries only cap_net_raw+ep, so exec under Fargate's
# default bounding set gives it CAP_NET_RAW and nothing else.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/sidewatch", "run"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/sidewatch", "health"]
