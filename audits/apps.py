from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "audits"
    verbose_name = "Audits"

    def ready(self) -> None:
        # Registers audits' checks in the lifecycle gates (risks, audit, approval pack) and
        # the candidate's audit in every sign-off's evidence.
        from audits import gates, signing  # noqa: F401
