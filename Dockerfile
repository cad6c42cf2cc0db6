# meetbridge: build wheels in one stage, run them from a slim image as a non-root user.
# Needs BuildKit (the default builder since Docker 23) for the bind mount below.
#
# The base images are pinned by exact tag, not by digest: the machines that build and test this
# file have no registry access to resolve one. Pin `python:3.11.11-slim-bookworm@sha256:…` (e.g.
# from `docker buildx imagetools inspect`) when you build where the registry is reachable.
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY connector ./connector
COPY mappings ./mappings
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11.11-slim-bookworm
# A fixed uid/gid, so a mounted /data volume can be given to it on the host.
RUN groupadd --system --gid 10001 meetbridge \
    && useradd --system --uid 10001 --gid meetbridge --home-dir /data --shell /usr/sbin/nologin meetbridge \
    && mkdir -p /data /config \
    && chown meetbridge:meetbridge /data
# The wheels are bind-mounted from the build stage for this one step: no layer keeps them.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/*.whl
ENV PYTHONUNBUFFERED=1
USER 10001:10001
# The SQLite state lives here by default (state.url = "sqlite:///meetbridge.db" is relative).
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# Reads receiver.host/port from /config/meetbridge.toml (when mounted) and the environment,
# as `run` does, and probes /healthz there.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["meetbridge", "healthcheck"]
ENTRYPOINT ["meetbridge"]
CMD ["run", "--config", "/config/meetbridge.toml"]
