# Evara's release image: a static binary on distroless, running as non-root.
#
#   make image                     # docker build with VERSION and COMMIT from git
#   docker run -p 8080:8080 -e DATABASE_URL=… -e EVARA_ENCRYPTION_KEY=… IMAGE
#
# Needs BuildKit (the default builder since Docker 23): RUN --mount caches
# the build cache, and the build stage uses $BUILDPLATFORM.
#
# The base images are pinned by tag here; their digests should be pinned
# (image@sha256:…) and kept current by Renovate or Dependabot.
#
# cmd/evara/image_test.go reads the `go build` line of the build stage and
# runs it: keep it one command (no `&&`), with only ${VERSION}, ${COMMIT},
# ${TARGETOS} and ${TARGETARCH} substituted.

# The build stage runs on the builder's own platform and cross-compiles
# (CGO is off), so a multi-platform build needs no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src

# Modules first, in a layer of their own: it is rebuilt only when go.mod or
# go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .
ARG VERSION=dev
ARG COMMIT=
ARG TARGETOS
ARG TARGETARCH
# The same build as `make build`: static (CGO off), -trimpath, the version
# and commit in main.version and main.commit.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/evara ./cmd/evara

# distroless/static: CA certificates, tzdata and /etc/passwd with the nonroot
# user (65532), no shell and no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=
LABEL org.opencontainers.image.title="evara" \
      org.opencontainers.image.description="Evara backend: ThingSpeak ingestion, device runtime and API" \
      org.opencontainers.image.source="https://github.com/evaratech/evara" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/evara /evara
USER 65532:65532
# 8080: HTTP (API, WebSockets, /healthz, /readyz, /metrics). 7101: cluster
# remoting (EVARA_CLUSTER_ADVERTISE); 8101: the membership health endpoint,
# which listens on the remoting port + 1000. The cluster ports are only used
# with a cluster provider and stay inside the cluster.
EXPOSE 8080 7101 8101
# No HEALTHCHECK: Kubernetes probes /healthz and /readyz (see the helm chart),
# and a Docker HEALTHCHECK would need a shell or a client binary in the image.
ENTRYPOINT ["/evara"]
CMD ["serve"]
