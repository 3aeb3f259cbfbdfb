# syntax=docker/dockerfile:1
#
# The operator image: one static binary, Debian's CA bundle and a passwd entry, user 65532.
#
#   docker build -t appflow-connector-operator:0.2.0 .
#
# The binary is built by hack/build-static.sh, exactly as on a workstation:
# glibc's static C runtime (-C target-feature=+crt-static) on the host's
# *-linux-gnu target, rustls on aws-lc-rs (no OpenSSL), then checked to have
# no ELF interpreter and no shared-library dependencies and to run in an
# empty root as uid 65532. No shell or libc is needed at run time.

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
# `--version` names the commit and build date: there is no .git in the build context, so pass
# them (docker build --build-arg APPFLOW_BUILD_COMMIT=$(git rev-parse HEAD)
# --build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) .); without them: "unknown" and now.
ARG APPFLOW_BUILD_COMMIT
ARG SOURCE_DATE_EPOCH
COPY Cargo.toml Cargo.lock build.rs ./
COPY src/ src/
COPY crates/ crates/
COPY emulator/ emulator/
COPY bench/ bench/
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

# The shipped stage: from scratch, so that it can also be built here without a registry
# (hack/image/build.sh builds hack/image/Containerfile with buildah and checks that the two
# final stages agree). The builder image is Debian bookworm: its CA bundle is Debian's.
FROM scratch
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY hack/image/passwd /etc/passwd
COPY hack/image/group /etc/group
COPY --from=builder --chmod=0755 /out/appflow-connector-operator /appflow-connector-operator
# The "nonroot" user of hack/image/passwd; the chart's pod security context uses the same id.
USER 65532:65532
EXPOSE 8081 8443
ENTRYPOINT ["/appflow-connector-operator"]
CMD ["run"]
