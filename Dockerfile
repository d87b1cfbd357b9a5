# feedmill container image: build with cargo, run on a minimal base as a non-root user.
# Build: docker build -t feedmill .   Run: see docker-compose.yml and the README.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked \
    && mkdir -p /out/store \
    && cp target/release/feedmill /out/feedmill
COPY feeds.toml /out/feeds.toml

# distroless/cc: glibc, CA certificates and a "nonroot" user (uid 65532), nothing else.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/feedmill /usr/local/bin/feedmill
COPY --from=build /out/feeds.toml /etc/feedmill/feeds.toml
COPY --from=build --chown=65532:65532 /out/store /store
ENV FEEDMILL_CONFIG=/etc/feedmill/feeds.toml \
    FEEDMILL_STORE=/store \
    FEEDMILL_LISTEN=0.0.0.0:8080
USER 65532:65532
EXPOSE 8080
VOLUME /store
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/feedmill", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/feedmill"]
CMD ["serve"]
