# ollama-gateway with Ollama beside it, the model baked in.
#
#   docker build --build-arg MODEL_NAME=llama2 -t your-image-name .
#   docker run -d -p 8000:8000 -e API_KEY="$(openssl rand -hex 32)" your-image-name
#
# API keys are never build arguments: give them at run time (API_KEY, OLLAMA_GATEWAY_API_KEYS or
# --keys-file on a mounted file / Docker secret). See docs/docker.md.
FROM ollama/ollama:0.12.10

ARG MODEL_NAME=deepseek-r1:1.5b

# The base image's Python is externally managed: the gateway gets its own virtual environment.
# tini is PID 1: it reaps the processes Ollama's runners leave behind and passes signals on.
# hadolint ignore=DL3008  # apt versions follow the pinned base image; pinning them breaks builds
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 gateway \
    && useradd --create-home --uid 10001 --gid gateway --shell /usr/sbin/nologin gateway \
    && install -d -o gateway -g gateway /models

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir ".[server]" \
    && rm -rf /src

ENV PATH=/opt/venv/bin:$PATH \
    HOME=/home/gateway \
    OLLAMA_MODELS=/models \
    OLLAMA_HOST=127.0.0.1:11434 \
    MODEL_NAME=${MODEL_NAME}

USER 10001:10001
WORKDIR /home/gateway

# Start Ollama, wait until it answers (polling /api/version), pull the model, stop it. An empty
# MODEL_NAME skips this (an image for a gateway that talks to an Ollama elsewhere). Ollama's
# identity key, made on first start, must not ship in the image.
RUN if [ -n "$MODEL_NAME" ]; then \
        ollama-gateway run --with-ollama --pull-only --model "$MODEL_NAME" --ready-timeout 60; \
    fi \
    && rm -rf "$HOME/.ollama"

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["ollama-gateway", "healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--", "ollama-gateway", "run", "--with-ollama"]
CMD []
