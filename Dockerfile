# The tools' image: `invoker` (what the workers' Job runs), `emulated-function` and `loadgen`, stripped,
# in /usr/local/bin. Build it from the repository's root:
#
#   docker build -t serverless-loadgen:latest .
#
# and make it reachable by the cluster's nodes (push it to a registry they pull from, or load it into
# each node), then pass `--invoker-image` if you tagged it otherwise.
#
# Build arguments:
#   FUNCTION_IMAGE_SIZE_MB=N  adds a layer of N MiB of random (incompressible) bytes, /opt/filler, as
#                             STeLLAR pads its deployment packages: cold starts against image size. Tag it
#                             as `loadgen --function-image-size-mb N` names it: IMAGE-filler-Nmb.
#   BINARIES=context          takes the binaries from the build context's `bin/` instead of compiling
#                             them (a context of its own, holding bin/ and this file: see docs/image.md).
#   BASE=IMAGE                the runtime's base (Debian bookworm; default debian:bookworm-slim).
ARG BASE=debian:bookworm-slim
ARG BINARIES=build

# 1. The Rust build (the toolchain this repository is developed and tested with). The binaries carry
#    their debug line tables for profiling (the release profile keeps them); the image needs none.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p invoker -p emulated -p loadgen --bins \
    && mkdir /out \
    && for b in invoker emulated-function loadgen; do strip -o "/out/$b" "target/release/$b"; done

# 1'. Or binaries built beforehand, from the context's bin/ (BINARIES=context).
FROM scratch AS context
COPY bin/invoker bin/emulated-function bin/loadgen /out/

FROM ${BINARIES} AS binaries

# 2. A slim runtime: the binaries need only glibc, libm and libgcc_s, which Debian's slim image has.
FROM ${BASE}
COPY --from=binaries /out/invoker /out/emulated-function /out/loadgen /usr/local/bin/
# The interference generators a run starts on chosen nodes (`--interference …,where=nodes:LABEL=VALUE`):
# stress-ng (CPU, memory, memory bandwidth) and iperf3 (network), from Debian's packages (installed here
# unless the base has them).
RUN if ! command -v stress-ng > /dev/null || ! command -v iperf3 > /dev/null; then \
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            stress-ng iperf3 && rm -rf /var/lib/apt/lists/*; \
    fi
ARG FUNCTION_IMAGE_SIZE_MB=0
RUN if [ "$FUNCTION_IMAGE_SIZE_MB" -gt 0 ]; then \
        mkdir -p /opt && head -c "$((FUNCTION_IMAGE_SIZE_MB * 1048576))" /dev/urandom > /opt/filler; \
    fi
# A worker needs no privilege (--realtime, SCHED_FIFO, would: run that pod as root if you use it).
USER 65532:65532
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/invoker"]
