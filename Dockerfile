# Production image: one process serving pages, websocket and API on :3000.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    REFLEX_USE_SYSTEM_BUN=1 REFLEX_CHECK_LATEST_VERSION=0 REFLEX_TELEMETRY_ENABLED=false \
    PATH=/app/.tools/node_modules/.bin:$PATH
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm unzip curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
RUN mkdir -p .tools && npm install --prefix /app/.tools --no-audit --no-fund bun@1.4.4
COPY . .
EXPOSE 3000
# SUPPORT_ENVIRONMENT=production refuses to start without a real SUPPORT_JWT_SECRET.
ENV SUPPORT_ENVIRONMENT=production
CMD ["sh", "-c", "python -m support_app.cli migrate && reflex run --env prod --frontend-port 3000 --backend-port 3000"]
