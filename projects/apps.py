from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "projects"
    verbose_name = "Projects"

    def ready(self) -> None:
        # Registers projects' own checks in the lifecycle gates (see projects/gates.py).
        from projects import signing
        from projects.selectors import gates  # noqa: F401
        from projects.selectors.criteria import criteria_signing_kind

        # Criteria versions are the first kind of signed document.
        signing.register_kind(criteria_signing_kind())
