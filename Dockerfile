# One image for every service: `python -m smartcity_th.services.<name>` picks which one runs.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY smartcity_kit ./smartcity_kit
COPY services ./services
COPY scenarios ./scenarios
RUN pip install ./contracts ./smartcity_kit . && useradd --system --uid 10001 smartcity
USER smartcity
# Overridden per service in docker-compose.yml.
CMD ["python", "-m", "smartcity_th.services.proposals"]
