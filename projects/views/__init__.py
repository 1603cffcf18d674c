"""Web pages, one module per area; urls.py refers to them through this package."""

from projects.views.criteria import *  # noqa: F403
from projects.views.datasets import *  # noqa: F403
from projects.views.evaluations import *  # noqa: F403
from projects.views.people import *  # noqa: F403
from projects.views.projects import *  # noqa: F403
