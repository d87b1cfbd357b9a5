# syntax=docker/dockerfile:1
# feedmill container image: build with cargo, run on a minimal base as a non-root user.
# Build: docker build -t feedmill .   Run: see docker-compose.yml and the README.
#
# Base images are pinned by tag (Rust 1.95 on Debian 12; distroless cc for Debian 12). For
# byte-for-byte reproducible builds pin their digests too: `docker buildx imagetools inspect
# IMAGE:TAG` prints one; append it as `IMAGE:TAG@sha256:…` on the FROM lines.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The manifest declares the benches, so cargo wants their files even for `build --bin`.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
# Caches keep the registry and compiled dependencies between builds; the binary is copied
# out in the same step, since the target directory is a cache mount.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin feedmill \
    && mkdir -p /out/store \
    && cp target/release/feedmill /out/feedmill
COPY feeds.toml /out/feeds.toml

# distroless/cc: glibc, CA certificates and a "nonroot" user (uid 65532), nothing else: no
# shell, no package manager. We add the binary and the default feeds.toml.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/feedmill /usr/local/bin/feedmill
COPY --from=build /out/feeds.toml /etc/feedmill/feeds.toml
# An empty /store owned by the runtime user, so a new named volume starts writable.
COPY --from=build --chown=65532:65532 /out/store /store
ENV FEEDMILL_CONFIG=/etc/feedmill/feeds.toml \
    FEEDMILL_STORE=/store \
    FEEDMILL_LISTEN=0.0.0.0:8080
USER 65532:65532
EXPOSE 8080
VOLUME /store
# SIGTERM: stop scheduling, let fetches and writes in flight finish, exit 0 within 10 s.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/feedmill", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/feedmill"]
CMD ["serve"]
