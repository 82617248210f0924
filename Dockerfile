# callcontrol service image. Asterisk runs beside it (its own host or container) and reaches this
# container's FastAGI port; this container reaches Asterisk's AMI port. See README "Running in Docker".
FROM python:3.11-slim-bookworm

RUN useradd --system --create-home --home-dir /var/lib/callcontrol --shell /usr/sbin/nologin callcontrol

WORKDIR /app
COPY pyproject.toml setup.cfg README.md ./
COPY callcontrol ./callcontrol
RUN pip install --no-cache-dir . && rm -rf /root/.cache
COPY migrations ./migrations
COPY ivr_flows ./ivr_flows

ENV CALLCONTROL_MIGRATIONS_DIR=/app/migrations \
    CALLCONTROL_FLOWS_DIR=/app/ivr_flows \
    CALLCONTROL_RECORDINGS_DIR=/var/lib/callcontrol/recordings \
    CALLCONTROL_DATABASE_URL=sqlite+aiosqlite:////var/lib/callcontrol/callcontrol.sqlite3 \
    CALLCONTROL_AGI_HOST=0.0.0.0 \
    CALLCONTROL_HTTP_HOST=0.0.0.0 \
    CALLCONTROL_LOG_FORMAT=json

USER callcontrol
VOLUME ["/var/lib/callcontrol"]
EXPOSE 4573 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"
# Apply migrations (idempotent), then serve. CALLCONTROL_AMI_SECRET and CALLCONTROL_AMI_HOST come from the
# environment (e.g. `docker run --env-file`), never from the image.
CMD ["sh", "-c", "callcontrol db upgrade && exec callcontrol serve"]
