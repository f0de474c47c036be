"""docker-compose.yml stays in step with the code (there is no Docker engine here to run it)."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

import smartcity_th.services
from smartcity_th.contracts import access
from smartcity_th.services.common.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
INFRA = {
    "kafka",
    "kafka-provision",
    "mongo",
    "mailpit",
    "registry-seed",
    "service-keys",
    "jaeger",
    "prometheus",
    "grafana",
}


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def service_packages() -> set[str]:
    return {
        m.name
        for m in pkgutil.iter_modules(smartcity_th.services.__path__)
        if (ROOT / "services" / m.name / "__main__.py").exists()
    }


def settings_class(name: str) -> type[BaseSettings]:
    module = importlib.import_module(f"smartcity_th.services.{name}.config")
    classes = [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, ServiceSettings)
        and v.__module__ == module.__name__  # not a base class it imports
    ]
    assert len(classes) == 1, (
        f"smartcity_th.services.{name}.config should define one settings class"
    )
    return classes[0]


def test_every_service_package_is_in_compose_and_nothing_else() -> None:
    declared = set(compose()["services"]) - INFRA
    assert declared == service_packages()


def test_infrastructure_uses_the_official_images() -> None:
    svc = compose()["services"]
    assert svc["kafka"]["image"].startswith("apache/kafka:4.")
    # The broker is configured from the local stack's templates (infra/kafka/docker-start.sh).
    server = (ROOT / "infra" / "kafka" / "server.properties.in").read_text(encoding="utf-8")
    assert "\nprocess.roles=broker,controller\n" in server
    assert "\nauto.create.topics.enable=false\n" in server
    assert svc["kafka"]["entrypoint"] == ["bash", "/smartcity/kafka/docker-start.sh"]
    assert "./infra/kafka:/smartcity/kafka:ro" in svc["kafka"]["volumes"]
    assert svc["mongo"]["image"].startswith("mongo:")
    assert svc["mongo"]["entrypoint"] == ["bash", "/smartcity/mongo/docker-start.sh"]
    script = (ROOT / "infra" / "mongo" / "docker-start.sh").read_text(encoding="utf-8")
    assert "--replSet rs0" in script
    assert "--keyFile" in script
    assert "127.0.0.1:8025:8025" in svc["mailpit"]["ports"]


@pytest.mark.parametrize("name", sorted(service_packages()))
def test_service_command_env_and_ports_match_its_settings(name: str) -> None:
    svc = compose()["services"][name]
    assert svc["command"] == ["python", "-m", f"smartcity_th.services.{name}"]
    cls = settings_class(name)
    prefix = str(cls.model_config.get("env_prefix", ""))
    assert prefix == f"{name.upper()}_"
    fields = {f.upper() for f in cls.model_fields}
    env: dict[str, str] = svc["environment"]
    for key in env:
        assert key.startswith(prefix), f"{name}: {key} lacks the {prefix} prefix"
        assert key.removeprefix(prefix) in fields, f"{name}: {key} is not a setting of {cls}"
    assert env[f"{prefix}HTTP_HOST"] == "0.0.0.0"
    port = env[f"{prefix}HTTP_PORT"]
    assert f"127.0.0.1:{port}:{port}" in svc["ports"]
    assert int(port) == cls.model_fields["http_port"].default
    assert re.fullmatch(r"kafka:\d+", env[f"{prefix}KAFKA_BOOTSTRAP"])
    assert env[f"{prefix}MONGO_URL"].startswith(
        f"mongodb://svc-{name}:${{MONGO_SVC_{name.upper()}_PASSWORD:?}}@mongo:27017/"
    ), f"{name} logs in to MongoDB as its own user, its password from the environment"


def test_dockerfile_installs_the_project() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install --no-deps --no-build-isolation ./contracts ./smartcity_kit ." in text
    for folder in ("contracts", "smartcity_kit", "services", "scenarios"):
        assert f"COPY {folder} ./{folder}" in text


def test_tracing_and_metrics_use_the_official_images() -> None:
    svc = compose()["services"]
    assert svc["jaeger"]["image"].startswith("jaegertracing/jaeger:")
    assert {"127.0.0.1:16686:16686", "127.0.0.1:4318:4318"} <= set(svc["jaeger"]["ports"])
    assert svc["prometheus"]["image"].startswith("prom/prometheus:")
    assert svc["grafana"]["image"].startswith("grafana/grafana:")
    for name in service_packages():
        env = svc[name]["environment"]
        assert env[f"{name.upper()}_OTLP_ENDPOINT"] == "http://jaeger:4318"


def _mounted(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> repository path of a service's bind mounts."""
    out = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            out[target] = ROOT / source
    return out


def test_prometheus_scrapes_every_service_on_its_port() -> None:
    svc = compose()["services"]
    [config] = [p for t, p in _mounted(svc["prometheus"]).items() if t.endswith("prometheus.yml")]
    targets = {
        t
        for job in yaml.safe_load(config.read_text())["scrape_configs"]
        for sc in job["static_configs"]
        for t in sc["targets"]
    }
    expected = {
        f"{name}:{svc[name]['environment'][name.upper() + '_HTTP_PORT']}"
        for name in service_packages()
    }
    assert targets == expected


def test_grafana_dashboard_is_provisioned_and_covers_the_issue() -> None:
    svc = compose()["services"]
    mounts = _mounted(svc["grafana"])
    provisioning = mounts["/etc/grafana/provisioning"]
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    [source] = datasources["datasources"]
    assert source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((provisioning / "dashboards" / "smartcity.yml").read_text())
    dashboards_path = providers["providers"][0]["options"]["path"]
    folder = mounts[dashboards_path]
    [dashboard_file] = sorted(folder.glob("*.json"))
    dashboard = json.loads(dashboard_file.read_text(encoding="utf-8"))
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in (
        "smartcity_events_published_total",
        "smartcity_consumer_lag",
        "smartcity_dead_lettered_total",
        "smartcity_emails_sent_total",
        "smartcity_emails_failed_total",
        "smartcity_stage_duration_seconds_bucket",
    ):
        assert metric in exprs, metric
    assert all(p["datasource"]["uid"] == source["uid"] for p in dashboard["panels"])
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    defined = _metric_names()
    for name in re.findall(r"smartcity_[a-z_]+", exprs):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert base in defined, f"the dashboard uses {name}, which no service defines"


def _metric_names() -> set[str]:
    names = set()
    for path in (ROOT / "services").rglob("*.py"):
        names |= set(re.findall(r'"(smartcity_[a-z_]+)"', path.read_text(encoding="utf-8")))
    return names


def test_kafka_runs_with_sasl_and_every_principal_has_credentials_from_the_env() -> None:
    svc = compose()["services"]
    env = svc["kafka"]["environment"]
    script = (ROOT / "infra" / "kafka" / "docker-start.sh").read_text(encoding="utf-8")
    assert "security.properties.in" in script
    security = (ROOT / "infra" / "kafka" / "security.properties.in").read_text(encoding="utf-8")
    assert "\nsasl.enabled.mechanisms=SCRAM-SHA-512\n" in security
    assert "\nallow.everyone.if.no.acl.found=false\n" in security
    assert "EXTERNAL:SASL_PLAINTEXT" in script  # the host's listener authenticates the same way
    principals = [access.BROKER_PRINCIPAL, access.ADMIN_PRINCIPAL]
    principals += [access.service_principal(s) for s in access.SERVICES]
    for principal in principals:
        var = f"KAFKA_{principal.replace('-', '_').upper()}_PASSWORD"
        assert f'"{principal}:{var}"' in script, f"docker-start.sh does not format {principal}"
        assert env[var].startswith(f"${{{var}:?"), f"{var} must come from the environment"
    provision = svc["kafka-provision"]
    assert provision["command"] == [
        "python",
        "-m",
        "smartcity_th.services.common.kafka_cli",
        "provision",
    ]
    assert provision["environment"]["SMARTCITY_KAFKA_ADMIN_PASSWORD"].startswith(
        "${KAFKA_ADMIN_PASSWORD"
    )
    for name in access.SERVICES:
        prefix = f"{name.upper()}_"
        service_env = svc[name]["environment"]
        assert service_env[f"{prefix}KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
        assert service_env[f"{prefix}KAFKA_USERNAME"] == access.service_principal(name)
        assert service_env[f"{prefix}KAFKA_PASSWORD"].startswith(
            f"${{KAFKA_SVC_{name.upper()}_PASSWORD"
        )
        assert "kafka-provision" in svc[name]["depends_on"]


def test_the_local_stack_formats_every_principal() -> None:
    script = (ROOT / "infra" / "stack.sh").read_text(encoding="utf-8")
    match = re.search(r"KAFKA_PRINCIPALS=\(([^)]*)\)", script)
    assert match is not None
    expected = [access.BROKER_PRINCIPAL, access.ADMIN_PRINCIPAL]
    expected += [access.service_principal(s) for s in access.SERVICES]
    assert match.group(1).split() == expected


def test_every_published_port_listens_on_loopback_only() -> None:
    published = [
        (name, port) for name, svc in compose()["services"].items() for port in svc.get("ports", [])
    ]
    assert len(published) >= 10, "compose publishes the services' and the tools' ports"
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_mongodb_runs_with_authentication_and_a_user_per_service() -> None:
    mongo = compose()["services"]["mongo"]
    env = mongo["environment"]
    assert env["MONGO_INITDB_ROOT_USERNAME"] == "root"
    assert env["MONGO_INITDB_ROOT_PASSWORD"].startswith("${MONGO_ROOT_PASSWORD:?")
    assert env["MONGO_REPLICA_KEY"].startswith("${MONGO_REPLICA_KEY:?")
    assert "-u root" in mongo["healthcheck"]["test"][1]
    mounts = _mounted(mongo)
    users = mounts["/docker-entrypoint-initdb.d/users.js"].read_text(encoding="utf-8")
    listed = re.search(r"const services = \[([^\]]*)\]", users)
    assert listed is not None
    assert re.findall(r'"([a-z]+)"', listed.group(1)) == list(access.SERVICES)
    assert 'role: "dbOwner", db: database' in users  # its own database, no other
    for name in access.SERVICES:
        var = f"MONGO_SVC_{name.upper()}_PASSWORD"
        assert env[var] == f"${{{var}:?}}"
        url = compose()["services"][name]["environment"][f"{name.upper()}_MONGO_URL"]
        assert f"@mongo:27017/smartcity_{name}?" in url
        assert f"authSource=smartcity_{name}" in url


def test_grafana_asks_for_a_login() -> None:
    env = compose()["services"]["grafana"]["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")


def test_compose_env_makes_every_secret_the_compose_file_asks_for() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    asked = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    script = (ROOT / "infra" / "kafka" / "compose-env.sh").read_text(encoding="utf-8")
    made = set(re.findall(r"\b([A-Z][A-Z_]+_(?:PASSWORD|KEY))\b", script))
    assert asked <= made, f"compose-env.sh does not make {sorted(asked - made)}"


DOCKER_START = ROOT / "infra" / "kafka" / "docker-start.sh"


def test_every_kafka_variable_is_read_by_its_entrypoint() -> None:
    """The kafka service runs infra/kafka/docker-start.sh, not the image's own entrypoint, so a
    KAFKA_* variable that script does not read configures nothing."""
    script = DOCKER_START.read_text(encoding="utf-8")
    env = compose()["services"]["kafka"]["environment"]
    dead = [var for var in env if not re.search(rf"\$\{{?{var}\b|\"[a-z-]+:{var}\"", script)]
    assert not dead, f"docker-start.sh never reads {dead}"


def test_kafka_is_published_on_loopback_with_an_external_listener() -> None:
    kafka = compose()["services"]["kafka"]
    assert kafka["ports"] == ["127.0.0.1:${KAFKA_EXTERNAL_PORT:-9094}:9094"]
    assert kafka["environment"]["KAFKA_EXTERNAL_PORT"] == "${KAFKA_EXTERNAL_PORT:-9094}"
    script = DOCKER_START.read_text(encoding="utf-8")
    assert "EXTERNAL_PORT=${KAFKA_EXTERNAL_PORT:-9094}" in script
    assert "EXTERNAL://0.0.0.0:9094" in script  # the container port compose publishes
    assert "EXTERNAL://127.0.0.1:$EXTERNAL_PORT" in script  # what the host's clients are told
    assert "listener.name.external.scram-sha-512.sasl.jaas.config=" in script
    # The containers keep the internal listener.
    for name in service_packages():
        env = compose()["services"][name]["environment"]
        assert env[f"{name.upper()}_KAFKA_BOOTSTRAP"] == "kafka:9092"


def one_shots() -> set[str]:
    """Services that run once and exit (others wait for their successful completion)."""
    return {
        dep
        for svc in compose()["services"].values()
        for dep, how in (svc.get("depends_on") or {}).items()
        if how["condition"] == "service_completed_successfully"
    }


def test_every_service_has_a_healthcheck_and_every_dependency_a_condition() -> None:
    services = compose()["services"]
    assert one_shots() == {"kafka-provision", "service-keys"}
    assert services["registry-seed"]["restart"] == "no"
    for name, svc in services.items():
        if name in one_shots() or name == "registry-seed":
            continue
        check = svc.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, name
    for name, svc in services.items():
        depends = svc.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for dep, how in depends.items():
            expected = "service_completed_successfully" if dep in one_shots() else "service_healthy"
            assert how == {"condition": expected}, f"{name} -> {dep}"


@pytest.mark.parametrize("name", sorted(service_packages()))
def test_a_service_is_healthy_when_its_healthz_answers(name: str) -> None:
    svc = compose()["services"][name]
    port = svc["environment"][f"{name.upper()}_HTTP_PORT"]
    test = svc["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert f"urlopen('http://127.0.0.1:{port}/healthz'" in test[3]


def test_the_image_is_built_once_and_reused() -> None:
    services = compose()["services"]
    built = {name: svc for name, svc in services.items() if "build" in svc}
    assert list(built) == ["kafka-provision"], "one service builds the image"
    image = built["kafka-provision"]["image"]
    assert built["kafka-provision"]["pull_policy"] == "build"
    ours = {
        name
        for name, svc in services.items()
        if (svc.get("command") or [""])[:3][-1].startswith("smartcity_th.")
    }
    assert ours == set(service_packages()) | {"kafka-provision", "registry-seed"}
    for name in ours - {"kafka-provision"}:
        assert services[name]["image"] == image, name
        assert services[name]["pull_policy"] == "never", f"{name} would pull {image}"


def test_the_readme_goes_on_from_compose_up_to_keys_and_the_demo() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("docker compose up")
    section = readme[start : start + 4000]
    for step in (
        "SMARTCITY_KAFKA_BOOTSTRAP=127.0.0.1:9094",
        "SMARTCITY_KAFKA_ADMIN_PASSWORD",
        "smartcity-admin api-key issue",
        "smartcity-admin onboard",
        "python -m smartcity_th.scenarios",
    ):
        assert step in section, step


def test_every_fact_owner_signs_with_a_key_the_service_keys_step_keeps() -> None:
    """Consumers refuse an owner's unsigned facts once it has a key (docs/security.md, "Signed
    facts"): compose makes and registers a key for each fact-owning service before it starts,
    and hands it only to that service."""
    services = compose()["services"]
    step = services["service-keys"]
    assert step["image"] == services["kafka-provision"]["image"]
    assert step["pull_policy"] == "never"
    owners = set(access.fact_topic_owners().values())
    script = step["command"][-1]
    assert set(re.findall(r"for s in ([a-z ]+);", script)[0].split()) == owners
    [volume] = step["volumes"]
    name, folder = volume.split(":")
    for svc in sorted(service_packages()):
        mounts = services[svc].get("volumes") or []
        key = services[svc]["environment"].get(f"{svc.upper()}_SIGNING_KEY_FILE")
        if svc in owners:
            assert mounts == [f"{name}:{folder}:ro"], svc
            assert key == f"{folder}/svc-{svc}.pem", svc
            assert services[svc]["depends_on"]["service-keys"] == {
                "condition": "service_completed_successfully"
            }
        else:
            assert key is None, svc
            assert f"{name}:{folder}:ro" not in mounts, svc
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert f"install -d -o smartcity -m 0700 {folder}" in dockerfile
