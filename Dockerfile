# One image for both roles; the command picks the api (the default) or the worker.
#   docker build -t digitgan .                           # CUDA build of PyTorch, for GPU hosts
#   docker build --build-arg TORCH_FLAVOUR=cpu -t digitgan .   # CPU build, for small hosts
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_FLAVOUR=cu126
ARG TORCH_VERSION=2.13.0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# PyTorch first, from the index of the chosen flavour; the project's torch range is then met.
RUN pip install --index-url "https://download.pytorch.org/whl/${TORCH_FLAVOUR}" "torch==${TORCH_VERSION}"
COPY constraints.txt pyproject.toml README.md ./
COPY app ./app
COPY worker ./worker
COPY models ./models
COPY digitgan ./digitgan
# Every other dependency pinned by constraints.txt, so a rebuild gives the same image.
RUN pip install --constraint constraints.txt .

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    DIGITGAN_DATA_DIR=/home/digitgan/data
# The data folder exists, owned by the user, so that a volume mounted on it is writable.
RUN useradd --create-home --uid 10001 digitgan \
    && install -d -o digitgan -g digitgan /home/digitgan/data
COPY --from=build /opt/venv /opt/venv
USER 10001
WORKDIR /home/digitgan
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# DIGITGAN_API_WORKERS processes behind port 8000 (default: one per core, at most 8).
ENV DIGITGAN_HOST=0.0.0.0 DIGITGAN_PORT=8000
CMD ["python", "-m", "app"]
