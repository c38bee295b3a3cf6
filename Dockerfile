# One image for both roles: the command picks `api` or `worker` (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/digitgan

# PyTorch first, from the CPU index, so the project's torch range is already met.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "$TORCH_INDEX" torch==2.13.0

COPY pyproject.toml README.md ./
COPY app ./app
COPY worker ./worker
COPY models ./models
COPY digitgan ./digitgan
RUN pip install .

RUN useradd --create-home --uid 10001 digitgan
USER digitgan
EXPOSE 8000
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
