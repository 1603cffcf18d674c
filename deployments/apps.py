from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    verbose_name = "Deployments"

    def ready(self) -> None:
        from deployments import gates  # noqa: F401  (its checks join the gate into monitoring)
        from deployments.selectors import plan_signing_kind
        from projects import signing

        signing.register_kind(plan_signing_kind())
