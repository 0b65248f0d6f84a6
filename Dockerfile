# The tools' image: `invoker` (what the workers' Job runs), `emulated-function` and `loadgen`, in
# /usr/local/bin. Build it from the repository's root:
#
#   docker build -t serverless-loadgen:latest .
#
# and make it reachable by the cluster's nodes (push it to a registry they pull from, or load it into
# each node), then pass `--invoker-image` if you tagged it otherwise.

# 1. The Rust build (the toolchain this repository is developed and tested with).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p invoker -p emulated -p loadgen --bins \
    && mkdir /out \
    && cp target/release/invoker target/release/emulated-function target/release/loadgen /out/

# 2. A slim runtime: the binaries need only glibc, libm and libgcc_s, which Debian's slim image has.
FROM debian:bookworm-slim
COPY --from=build /out/invoker /out/emulated-function /out/loadgen /usr/local/bin/
# A worker needs no privilege (--realtime, SCHED_FIFO, would: run that pod as root if you use it).
USER 65532:65532
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/invoker"]
