# syntax=docker/dockerfile:1
# soloauth: build from source, run as a non-root user on distroless.
#   docker build -t soloauth .
#   docker run -p 8001:8001 -v soloauth-data:/data --env-file .env soloauth

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo "fn main() {}" > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
COPY static ./static
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && mkdir -p /out/data \
    && cp target/release/soloauth /out/soloauth

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/soloauth /usr/local/bin/soloauth
# The data directory belongs to the nonroot user (uid 65532); a new named
# volume mounted here starts with that ownership.
COPY --from=build --chown=65532:65532 /out/data /data
ENV AUTH_DATA_DIR=/data \
    AUTH_BIND=0.0.0.0:8001 \
    AUTH_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8001
USER 65532:65532
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/soloauth", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/soloauth"]
CMD ["serve"]
