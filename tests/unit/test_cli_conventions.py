"""The CLIs' error rule (services/common/cli_conventions.py): one line on stderr and a
documented exit code, never a traceback."""

from __future__ import annotations

import pytest

from smartcity_th.services.common.cli_conventions import (
    EXIT_AUTH,
    EXIT_FAILED,
    EXIT_UNREACHABLE,
    run,
)


class KafkaException(Exception):  # librdkafka's exception, by name as confluent-kafka has it
    pass


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConnectionError("Kafka at 127.0.0.1:1 is unreachable"), EXIT_UNREACHABLE),
        (
            KafkaException(
                'KafkaError{code=_TRANSPORT,str="Failed to get metadata: Local: Broker transport '
                'failure"} sasl_plaintext://127.0.0.1:9092/bootstrap'
            ),
            EXIT_UNREACHABLE,
        ),
        (RuntimeError("Kafka at x refused the credentials of admin"), EXIT_AUTH),
        (ValueError("no such agency\nsecond line"), EXIT_FAILED),
    ],
)
def test_an_error_is_one_line_and_a_documented_exit_code(
    error: Exception, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    def app() -> None:
        raise error

    with pytest.raises(SystemExit) as exited:
        run(app, "smartcity-admin")
    assert exited.value.code == code
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("smartcity-admin: error: ")
    assert "Traceback" not in "\n".join(err)
    assert len(err) <= 2
