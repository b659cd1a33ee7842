# meshload: the static binary from `make build`, as distroless's nonroot
# user (65532), so a meshproxy sidecar in its pod captures its connections.
# Build from the repository root: docker build -f deploy/docker/meshload.Dockerfile .
FROM gcr.io/distroless/static-debian12:nonroot
COPY bin/meshload /meshload
USER 65532:65532
ENTRYPOINT ["/meshload"]
