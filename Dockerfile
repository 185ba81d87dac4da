# pycluster container image: a head by default, a worker with `pycluster worker ...`.
#
#   docker build -t pycluster .                       # everything: GPU monitoring, LLM serving, Ray
#   docker build -t pycluster --build-arg EXTRAS=gpu .  # slimmer: no torch/transformers/ray
#   docker compose up --scale worker=4                  # see compose.yaml
#
# BASE_IMAGE must provide python3 (>= 3.10) with venv and pip; the official python image does.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
ARG EXTRAS=complete
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# a virtual environment, so the runtime stage copies one folder and no build tools
RUN python3 -m venv /opt/pycluster \
    && /opt/pycluster/bin/pip install --no-cache-dir ".[${EXTRAS}]"

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="pycluster" \
      org.opencontainers.image.description="Batteries-included cluster computing on Dask: head node, workers, dashboard, job queue"
# a fixed uid, so a volume's owner is the same on every host
RUN groupadd --system --gid 10001 pycluster \
    && useradd --system --uid 10001 --gid pycluster --create-home --home-dir /home/pycluster pycluster \
    && mkdir -p /var/lib/pycluster \
    && chown pycluster:pycluster /var/lib/pycluster \
    && chmod 0700 /var/lib/pycluster
COPY --from=build /opt/pycluster /opt/pycluster
COPY docker/entrypoint.sh /usr/local/bin/pycluster-entrypoint
COPY docker/healthcheck.py /usr/local/bin/pycluster-healthcheck
ENV PATH=/opt/pycluster/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYCLUSTER_STATE_DIR=/var/lib/pycluster \
    PYCLUSTER_HOST=0.0.0.0
USER 10001:10001
WORKDIR /home/pycluster
# jobs, datasets, results, the generated cluster key and API token live here
VOLUME ["/var/lib/pycluster"]
# scheduler, dashboard + REST API, discovery (UDP), Dask's diagnostics (loopback unless
# --dask-dashboard-host is given: it has no authentication)
EXPOSE 8786 8787 8788/udp 8789
# runs as the same user on loopback, which the web app trusts without a token
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "/usr/local/bin/pycluster-healthcheck"]
ENTRYPOINT ["/usr/local/bin/pycluster-entrypoint"]
# no local workers: workers are containers of their own (compose.yaml scales them)
CMD ["pycluster", "head", "--local-workers", "0"]
