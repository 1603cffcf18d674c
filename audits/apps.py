from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "audits"
    verbose_name = "Audits"

    def ready(self) -> None:
        # Registers audits' checks in the lifecycle gates (risks, audit, approval pack), the
        # candidate's audit in every sign-off's evidence, and the audit as what measures
        # fairness criteria, and audit reviews past their due date among overdue reviews.
        from audits import gates, measures, overdue, signing  # noqa: F401
