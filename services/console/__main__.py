from smartcity_th.services.common.cli import service_cli
from smartcity_th.services.console.bootstrap import NAME, build
from smartcity_th.services.console.config import ConsoleSettings

service_cli(NAME, ConsoleSettings, build)()
