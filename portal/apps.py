from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        # Signing in confirms the password (sudo mode): its signal receiver.
        from portal import sudo  # noqa: F401
