# syntax=docker/dockerfile:1
#
# The operator image: one static binary on distroless/static, user 65532.
#
#   docker build -t appflow-connector-operator:0.1.0 .
#
# The binary is built by hack/build-static.sh, exactly as on a workstation:
# glibc's static C runtime (-C target-feature=+crt-static) on the host's
# *-linux-gnu target, rustls on aws-lc-rs (no OpenSSL), then checked to have
# no ELF interpreter and no shared-library dependencies and to run in an
# empty root as uid 65532. No shell or libc is needed at run time.

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src/ src/
COPY emulator/ emulator/
COPY tests/ tests/
COPY crds/ crds/
COPY hack/build-static.sh hack/build-static.sh
# The cargo registry and target dir are build caches, so the binary is
# copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    hack/build-static.sh \
 && install -D -m 0755 "target/$(rustc -vV | sed -n 's/^host: //p')/release/appflow-connector-operator" \
      /out/appflow-connector-operator

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=builder /out/appflow-connector-operator /appflow-connector-operator
# distroless' "nonroot" user; the chart's pod security context uses the same id.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/appflow-connector-operator"]
CMD ["run"]
