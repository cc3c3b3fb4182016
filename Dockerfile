# syntax=docker/dockerfile:1
# The prescaler operator image: one static binary on distroless/static, run as a non-root
# user, no shell or package manager inside.
#
#   docker build -t ghcr.io/prescaler/prescaler:0.1.0 .
#
# The tag follows the crate version (Cargo.toml), which is the Helm chart's appVersion and
# so the image the chart runs by default.

# Build: Rust on Alpine links against musl and produces a fully static executable (TLS is
# rustls with ring, so no OpenSSL or other system library is linked).
ARG RUST_VERSION=1.95
FROM docker.io/library/rust:${RUST_VERSION}-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
ENV CARGO_PROFILE_RELEASE_STRIP=symbols
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin prescaler \
    && cp target/release/prescaler /prescaler

# Run: distroless/static has CA certificates, /etc/passwd with the `nonroot` user (65532)
# and nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="prescaler" \
      org.opencontainers.image.description="Predictive autoscaler for Kubernetes" \
      org.opencontainers.image.source="https://github.com/prescaler/prescaler" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /prescaler /prescaler
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/prescaler"]
CMD ["run"]
