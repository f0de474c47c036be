from services.common.cli import service_cli
from services.notifications.bootstrap import NAME, build
from services.notifications.config import NotificationsSettings

service_cli(NAME, NotificationsSettings, build)()
