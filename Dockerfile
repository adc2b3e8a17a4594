# syntax=docker/dockerfile:1
# Build: the whole workspace in release mode.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin auth-service

# Run: a small Debian image with only the binary, as a non-root user.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/auth-service --create-home auth
COPY --from=build /src/target/release/auth-service /usr/local/bin/auth-service
USER 10001
WORKDIR /var/lib/auth-service
ENV SERVICE_HOST=0.0.0.0 SERVICE_PORT=9998 LOG_FORMAT=json APP_ENV=production
EXPOSE 9998
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD curl -fs http://127.0.0.1:9998/health/live || exit 1
ENTRYPOINT ["auth-service"]
CMD ["serve"]
