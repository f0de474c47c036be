"""The standard OpenTelemetry variables win over the services' own settings (issue 25)."""

from __future__ import annotations

from smartcity_th.services.common.telemetry import resource_attributes, traces_endpoint


def test_the_service_names_itself_unless_otel_service_name_or_resource_attributes_say() -> None:
    assert resource_attributes("proposals", {})["service.name"] == "proposals"
    assert "service.name" not in resource_attributes("proposals", {"OTEL_SERVICE_NAME": "x"})
    named = {"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,service.name=y"}
    assert "service.name" not in resource_attributes("proposals", named)
    assert resource_attributes("proposals", named)["service.namespace"] == "smartcity"


def test_the_standard_otlp_endpoint_variables_win_over_the_setting() -> None:
    assert traces_endpoint("http://127.0.0.1:4318/", {}) == "http://127.0.0.1:4318/v1/traces"
    standard = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    assert traces_endpoint("http://127.0.0.1:4318", standard) is None
    traces_only = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}
    assert traces_endpoint("http://127.0.0.1:4318", traces_only) is None
