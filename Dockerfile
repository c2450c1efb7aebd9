# Tollgate: one image for every process of the distributed mode (docker-compose.yml) and for
# `tollgate up`. The command picks the process: api | gateway | consume metering|policy | migrate.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TOLLGATE_HOST=0.0.0.0 \
    TOLLGATE_PORT=8080 \
    TOLLGATE_DATA_DIR=/var/lib/tollgate

WORKDIR /src
COPY . /src
RUN pip install /src \
 && useradd --system --uid 10001 --home-dir /var/lib/tollgate --create-home tollgate \
 && rm -rf /src

USER tollgate
WORKDIR /var/lib/tollgate
VOLUME ["/var/lib/tollgate"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=5 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"TOLLGATE_PORT\", \"8080\")}/health', timeout=2)"]
ENTRYPOINT ["tollgate"]
CMD ["up"]
