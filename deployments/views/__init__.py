"""Web pages of the deployment stage; urls.py refers to them through this package."""

from deployments.views.alerts import *  # noqa: F403
from deployments.views.dashboard import *  # noqa: F403
from deployments.views.deployments import *  # noqa: F403
from deployments.views.drift import *  # noqa: F403
from deployments.views.production import *  # noqa: F403
from deployments.views.reviews import *  # noqa: F403
from deployments.views.rollouts import *  # noqa: F403
from deployments.views.signoffs import *  # noqa: F403
