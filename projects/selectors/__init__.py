"""Reads, one module per area. Everything a user is shown starts from portal.access.

Callers use this package (``selectors.project_list(...)``); the modules import from
each other in one direction: teams, then events and datasets, criteria, rigor, signoffs
and gates last.
"""

from projects.selectors.criteria import *  # noqa: F403
from projects.selectors.datasets import *  # noqa: F403
from projects.selectors.events import *  # noqa: F403
from projects.selectors.gates import *  # noqa: F403
from projects.selectors.rigor import *  # noqa: F403
from projects.selectors.signoffs import *  # noqa: F403
from projects.selectors.teams import *  # noqa: F403
