# syntax=docker/dockerfile:1
# pacsbot's container image: `docker compose up -d` (compose.yaml), or on its own:
#   docker build -t pacsbot .
#   docker run --read-only --tmpfs /tmp -v pacsbot-data:/var/lib/pacsbot --env-file secrets.env pacsbot
# The data (SQLite database unless database.url says otherwise, the manuals' index, caches)
# is in the volume /var/lib/pacsbot; nothing else is written but /tmp, so the root file
# system can be read-only.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: the wheel, from the source tree (.dockerignore keeps out .venv, data, tests' goldens)
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# ---- run
FROM ${PYTHON_IMAGE}
# A fixed UID/GID, so that the volume's owner is the same in every image version (and a
# Kubernetes runAsNonRoot check can see a number).
ARG PACSBOT_UID=10001
RUN groupadd --system --gid "${PACSBOT_UID}" pacsbot \
 && useradd --system --uid "${PACSBOT_UID}" --gid pacsbot --home-dir /var/lib/pacsbot --no-create-home \
            --shell /usr/sbin/nologin pacsbot \
 && install -d -o pacsbot -g pacsbot -m 0750 /var/lib/pacsbot
# pip does not expand a glob: the shell does ('/wheels/pacsbot-*.whl[...]' in quotes is taken
# as a file name), so the one wheel is found first and the extras appended to its name.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    set -- /wheels/pacsbot-*.whl && [ "$#" -eq 1 ] \
 && pip install --no-cache-dir "$1[postgresql,charts]" \
 && pacsbot --help > /dev/null

# Read-only root file system: pip compiled the .pyc files at install (none written at run
# time); HOME, TMPDIR and matplotlib's font cache go to /tmp (a tmpfs), the semantic
# re-ranker's vector cache to the volume.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PACSBOT_DATA_DIR=/var/lib/pacsbot \
    HOME=/tmp \
    TMPDIR=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    XDG_CACHE_HOME=/var/lib/pacsbot/.cache
USER ${PACSBOT_UID}:${PACSBOT_UID}
WORKDIR /var/lib/pacsbot
VOLUME ["/var/lib/pacsbot"]

# HTTP mode: Slack's requests on /slack/events; both modes: GET /healthz (database, Slack,
# and in Socket Mode the WebSocket, outbox and scheduler), 200 when healthy, 503 otherwise.
EXPOSE 3000
# No curl in the slim image: Python fetches it (an HTTP error or no answer exits non-zero).
# The start period covers the checks and migrations `pacsbot serve` runs before it listens.
HEALTHCHECK --interval=30s --timeout=10s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=8)"]

# Socket Mode if SLACK_APP_TOKEN is set, else HTTP mode; --host 0.0.0.0 so that the port
# (HTTP mode's requests, /healthz) is reachable from outside the container. The
# configuration file comes from PACSBOT_CONFIG (compose.yaml mounts one), else defaults.
# SIGTERM stops it: HTTP mode lets requests in progress finish (up to 30 s).
ENTRYPOINT ["pacsbot"]
CMD ["serve", "--host", "0.0.0.0"]
