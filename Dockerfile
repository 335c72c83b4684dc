# syntax=docker/dockerfile:1
# Ovasabi Edge: one image for every instance. Build: docker build -t ovasabi-edge .
# The build stage runs scripts/container-build (which CI runs too).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN scripts/container-build /out

FROM debian:bookworm-slim
# CA certificates: webhooks, LibreTranslate and PostgreSQL over TLS. Not pinned:
# the point is the distribution's current CA list and its security updates.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /srv/ovasabi --shell /usr/sbin/nologin ovasabi
COPY --from=build /out/ /
RUN chown -R 10001:10001 /srv/ovasabi/data
USER 10001:10001
WORKDIR /srv/ovasabi
# Both listeners on every interface; the embedded database in the data volume
# (set DATABASE_URL=postgres://… to scale out).
ENV OVASABI_HTTP_ADDR=0.0.0.0:8080 \
    OVASABI_WT_ADDR=0.0.0.0:4433 \
    DATABASE_URL=sqlite:///srv/ovasabi/data/ovasabi.db \
    OVASABI_LOG_FORMAT=json \
    OVASABI_DEMO=false
VOLUME ["/srv/ovasabi/data"]
EXPOSE 8080/tcp 4433/udp
HEALTHCHECK --interval=10s --timeout=4s --start-period=20s --retries=3 \
  CMD ["ovasabi-edge", "health"]
ENTRYPOINT ["ovasabi-edge"]
