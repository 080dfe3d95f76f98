# syntax=docker/dockerfile:1
# rootwatch images: one build stage, one small runtime stage per command.
#   docker build --target ingest -t rootwatch/ingest .
#   docker build --target alert  -t rootwatch/alert  .
#   docker build --target audit  -t rootwatch/audit  .
# Static binaries (CGO_ENABLED=0) on distroless/static, run as the non-root
# user 65532; httpcheck is the healthcheck (there is no shell or curl).

ARG GO_VERSION=1.26
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags="-s -w" -o /out/ ./cmd/ingest ./cmd/alert ./cmd/audit ./deploy/httpcheck

FROM gcr.io/distroless/static-debian12:nonroot AS runtime
COPY --from=build /out/httpcheck /usr/local/bin/httpcheck
USER 65532:65532

FROM runtime AS ingest
COPY --from=build /out/ingest /usr/local/bin/ingest
EXPOSE 9108
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s CMD ["/usr/local/bin/httpcheck", "http://127.0.0.1:9108/healthz"]
ENTRYPOINT ["/usr/local/bin/ingest"]

FROM runtime AS audit
COPY --from=build /out/audit /usr/local/bin/audit
ENTRYPOINT ["/usr/local/bin/audit"]

# alert last: the default target of a plain `docker build .`.
FROM runtime AS alert
COPY --from=build /out/alert /usr/local/bin/alert
EXPOSE 9102
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s CMD ["/usr/local/bin/httpcheck", "http://127.0.0.1:9102/healthz"]
ENTRYPOINT ["/usr/local/bin/alert"]
