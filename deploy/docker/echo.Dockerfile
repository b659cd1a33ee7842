# The echo backend: `meshbench echo` from the static meshbench binary.
# Build from the repository root: docker build -f deploy/docker/echo.Dockerfile .
FROM gcr.io/distroless/static-debian12:nonroot
COPY bin/meshbench /meshbench
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/meshbench", "echo"]
CMD ["-listen", "0.0.0.0:8080"]
