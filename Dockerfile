# Image of the unify worker and CLI (used by docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY unify ./unify
COPY streams ./streams
COPY sinks ./sinks
COPY examples ./examples
RUN pip install --no-cache-dir '.[s3]'
ENTRYPOINT ["unify"]
