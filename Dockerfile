# eacgate from source: the build steps are those of .ci/run (Debian packages, go mod
# download, go build with cgo for PKCS#11); the runtime has SoftHSM2 for the compose setup.
FROM golang:1.26-bookworm AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends ca-certificates gcc libc6-dev make pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -o /out/eacgate ./cmd/eacgate \
 && CGO_ENABLED=1 go build -trimpath -o /out/eacgate-load ./cmd/eacgate-load

FROM debian:bookworm-slim
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends ca-certificates softhsm2 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /var/lib/eacgate --create-home eacgate \
 && mkdir -p /var/lib/softhsm/tokens && chown -R eacgate /var/lib/softhsm
COPY --from=build /out/eacgate /out/eacgate-load /usr/local/bin/
COPY deploy/entrypoint.sh /usr/local/bin/eacgate-entrypoint
USER eacgate
WORKDIR /var/lib/eacgate
EXPOSE 8443
ENTRYPOINT ["eacgate-entrypoint"]
CMD ["serve", "--config", "/etc/eacgate/eacgate.yaml"]
