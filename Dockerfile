# One image for every service: `python -m smartcity_th.services.<name>` picks which one runs.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# The notifications service renders each letter as a PDF with WeasyPrint (Pango) in Debian's
# Laksaman font, and refuses to start without it (docs/notifications.md).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
       libharfbuzz-subset0 fonts-tlwg-laksaman \
    && rm -rf /var/lib/apt/lists/*
# Every dependency from PyPI at the version and hashes pinned in requirements/runtime.txt (no
# test or lint tool; `make lock` updates it), in a layer of its own that a source change keeps.
COPY requirements/runtime.txt ./requirements/runtime.txt
RUN pip install --require-hashes -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY smartcity_kit ./smartcity_kit
COPY services ./services
COPY scenarios ./scenarios
# The three distributions of this repository, built by the pinned setuptools, without resolving
# anything more; `pip check` fails the build if the pins miss something they declare.
RUN pip install --no-deps --no-build-isolation ./contracts ./smartcity_kit . \
    && pip check && useradd --system --uid 10001 smartcity \
    && install -d -o smartcity -m 0700 /var/lib/smartcity/keys
# /var/lib/smartcity/keys: the services' signing keys (compose's service-keys volume starts
# from this folder, so it belongs to the services' user).
USER smartcity
# Overridden per service in docker-compose.yml.
CMD ["python", "-m", "smartcity_th.services.proposals"]
