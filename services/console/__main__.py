from services.common.cli import service_cli
from services.console.bootstrap import NAME, build
from services.console.config import ConsoleSettings

service_cli(NAME, ConsoleSettings, build)()
