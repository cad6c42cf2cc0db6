# meetbridge: build wheels in one stage, run them from a slim image as a non-root user.
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
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels /wheels/*.whl \
    && rm -rf /wheels
ENV PYTHONUNBUFFERED=1
USER 10001:10001
# The SQLite state lives here by default (state.url = "sqlite:///meetbridge.db" is relative).
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["meetbridge", "healthcheck"]
ENTRYPOINT ["meetbridge"]
CMD ["run", "--config", "/config/meetbridge.toml"]
