from smartcity_th.services.approvals.bootstrap import NAME, build
from smartcity_th.services.approvals.config import ApprovalsSettings
from smartcity_th.services.common.cli import service_cli

service_cli(NAME, ApprovalsSettings, build)()
