from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    verbose_name = "Deployments"

    def ready(self) -> None:
        # Its checks join the gate into monitoring; its rollouts measure software criteria;
        # its live deployments past their periodic review show on the home pages.
        from deployments import gates, measures, reviews  # noqa: F401
        from deployments.selectors import plan_signing_kind
        from projects import signing

        signing.register_kind(plan_signing_kind())
