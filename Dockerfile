# Causette's bot server: `causette serve`, configured by environment (README, "Deploying").
# The configuration (bots.yaml, and flows when they are not the examples) is mounted at
# /config; secrets come from the environment, never from the image or bots.yaml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CAUSETTE_CONFIG=/config/bots.yaml \
    CAUSETTE_FLOWS=/app/examples/flows \
    CAUSETTE_STORE=sqlite:///var/lib/causette/causette.db

WORKDIR /app
# Editable, so that `causette demo` finds examples/ next to the code; the code stays owned by
# root and read-only to the server's user.
COPY . .
RUN pip install --no-cache-dir -e . \
    && useradd --system --home-dir /var/lib/causette --shell /usr/sbin/nologin causette \
    && mkdir -p /var/lib/causette \
    && chown causette /var/lib/causette

USER causette
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["causette"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
