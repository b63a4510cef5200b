# Causette: the bot server (`causette serve`). Configuration and flows are mounted at /config.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY messaging ./messaging
COPY flows ./flows
COPY store ./store
COPY agents ./agents
COPY webhooks ./webhooks
COPY sandbox ./sandbox
COPY bots ./bots
COPY examples ./examples
RUN pip install --no-cache-dir . && useradd --system --home /var/lib/causette causette \
    && mkdir -p /var/lib/causette && chown causette /var/lib/causette
USER causette
EXPOSE 8080
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"
ENTRYPOINT ["causette"]
CMD ["serve", "--config", "/config/bots.yaml", "--host", "0.0.0.0", "--port", "8080"]
