# meshproxy: the static binary from `make build` (CGO_ENABLED=0) on a
# distroless base (CA certificates, /etc/passwd, no shell). It runs as uid
# 1337, which meshproxy-init exempts from capture.
# Build from the repository root: docker build -f deploy/docker/meshproxy.Dockerfile .
FROM gcr.io/distroless/static-debian12:nonroot
COPY bin/meshproxy /meshproxy
USER 1337:1337
EXPOSE 15000 15001 15006
ENTRYPOINT ["/meshproxy"]
