from services.approvals.bootstrap import NAME, build
from services.approvals.config import ApprovalsSettings
from services.common.cli import service_cli

service_cli(NAME, ApprovalsSettings, build)()
