from smartcity_th.services.common.cli import service_cli
from smartcity_th.services.proposals.bootstrap import NAME, build
from smartcity_th.services.proposals.config import ProposalsSettings

service_cli(NAME, ProposalsSettings, build)()
