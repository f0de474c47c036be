from services.common.cli import service_cli
from services.proposals.bootstrap import NAME, build
from services.proposals.config import ProposalsSettings

service_cli(NAME, ProposalsSettings, build)()
