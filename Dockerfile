# Support & Refunds production image.
#
#   build    Node/npm only to install bun 1.4.4 and Node.js 22 from the npm registry (as the Makefile
#            does), the Python dependencies into /opt/venv and the app; then
#            `reflex export --frontend-only --no-zip` compiles the pages and builds the
#            frontend into .web/build/client. All of this stays in this stage.
#   runtime  python:3.11-slim with the venv, the app code and the built frontend: no
#            Node, no bun, no build tools, an unprivileged user. It starts in seconds:
#            `python -m support_app.cli serve` runs Reflex's production backend with
#            the prebuilt frontend mounted on the same port (pages, /_event websocket,
#            /api/*); `reflex run --env prod` would rebuild the frontend at every start.
#
# The image runs nothing but the app: migrations are a one-shot job
# (`python -m support_app.cli migrate`, see deploy/compose.yaml), the worker is
# `python -m support_app.worker`, the sandbox `python -m support_app.sandbox`.
# No secret is baked in: .dockerignore keeps .env*, data/ and databases out of the
# context, and SUPPORT_ENVIRONMENT=production refuses to start without real ones.
#
# REFLEX_API_URL is compiled into the frontend: the origin browsers use to reach the
# app. Over https any port in it is dropped; with host "localhost" the page's own host
# is used, so http://localhost:3000 fits any host published on port 3000.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    REFLEX_USE_SYSTEM_BUN=1 REFLEX_CHECK_LATEST_VERSION=0 REFLEX_TELEMETRY_ENABLED=false \
    NPM_CONFIG_REGISTRY=https://registry.npmjs.org/ \
    REFLEX_DIR=/build/.cache/reflex BUN_INSTALL_CACHE_DIR=/build/.cache/bun \
    XDG_CACHE_HOME=/build/.cache/xdg XDG_CONFIG_HOME=/build/.cache/config \
    PATH=/opt/venv/bin:/opt/tools/node_modules/.bin:$PATH
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm unzip \
    && rm -rf /var/lib/apt/lists/*
RUN npm install --prefix /opt/tools --no-audit --no-fund --loglevel=error bun@1.4.4 node@22 && bun --version && node --version
RUN python -m venv /opt/venv
COPY requirements.txt /build/requirements.txt
RUN pip install -r /build/requirements.txt
WORKDIR /build
COPY . .
ARG REFLEX_API_URL=http://localhost:3000
RUN REFLEX_API_URL="$REFLEX_API_URL" reflex export --frontend-only --no-zip --loglevel info \
    && test -f .web/build/client/index.html

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH \
    REFLEX_CHECK_LATEST_VERSION=0 REFLEX_TELEMETRY_ENABLED=false \
    SUPPORT_ENVIRONMENT=production
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --from=build /build/rxconfig.py /build/alembic.ini ./
COPY --from=build /build/alembic ./alembic
COPY --from=build /build/support_app ./support_app
# The built frontend, and the compile markers the backend reads instead of evaluating
# every page again (.web/backend/stateful_pages.json, bundled_libraries.json).
COPY --from=build /build/.web/build/client ./.web/build/client
COPY --from=build /build/.web/backend ./.web/backend
# The code stays root-owned and read-only to the app; it writes only here (Reflex's
# disk state when REFLEX_REDIS_URL is unset, a SQLite file outside production).
RUN mkdir -p /app/data /app/.states && chown app:app /app/data /app/.states
USER app
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:3000/api/health/live', timeout=2)"]
CMD ["python", "-m", "support_app.cli", "serve", "--host", "0.0.0.0", "--port", "3000"]
