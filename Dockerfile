# syntax=docker/dockerfile:1
# soloauth: one static (musl) binary on an empty image, run as uid 65532.
#
# From source (compiles in a Rust container):
#   docker build -t soloauth .
# From a binary built beforehand, as the release workflow and
# scripts/image_test.sh do (pulls no base image at all):
#   mkdir -p dist/amd64/data && cp target/x86_64-unknown-linux-musl/release/soloauth dist/amd64/
#   docker build --build-arg BINARY=prebuilt -t soloauth .
# Run:
#   docker run -p 8001:8001 -v soloauth-data:/data --env-file .env soloauth

# Where the binary comes from: `build` (compiled here) or `prebuilt`.
ARG BINARY=build

# --- build: compile a static binary from source ------------------------------
FROM rust:1.95-alpine AS build
# The C compiler ring's assembly needs; the Rust image pins the rest.
# hadolint ignore=DL3018
RUN apk add --no-cache gcc musl-dev
WORKDIR /src
# Dependencies first, so source edits do not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src examples && echo "fn main() {}" > src/main.rs && touch src/lib.rs \
    && for e in bare_probe seed_store echo_headers; do echo "fn main() {}" > "examples/$e.rs"; done \
    && cargo build --release --locked \
    && rm -rf src examples
COPY src ./src
COPY static ./static
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && mkdir -p /out/data \
    && cp target/release/soloauth /out/soloauth

# --- prebuilt: a static binary from the build context ------------------------
# dist/<arch>/soloauth (arch as Docker names it: amd64, arm64) and an empty
# folder dist/<arch>/data, which becomes /data.
FROM scratch AS prebuilt
ARG TARGETARCH
COPY dist/${TARGETARCH}/ /out/

FROM ${BINARY} AS binary

# --- runtime: the image ------------------------------------------------------
# Nothing but the binary: no shell, no libc, no package manager. TLS roots for
# alerts are compiled in; the HEALTHCHECK is the binary's own. Traefik
# routes to a container with a health check only once it is healthy: every
# 10 s, so a restart is back within about 10 s.
FROM scratch AS runtime
COPY --from=binary /out/soloauth /usr/local/bin/soloauth
# The data directory belongs to uid 65532; a new named volume mounted here
# starts with that ownership.
COPY --from=binary --chown=65532:65532 /out/data /data
ENV AUTH_DATA_DIR=/data \
    AUTH_BIND=0.0.0.0:8001 \
    AUTH_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8001
USER 65532:65532
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/soloauth", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/soloauth"]
CMD ["serve"]
