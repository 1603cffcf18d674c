"""Release tools driving and consulting rollouts: Flagger's webhooks (``flagger``) and the
current step's verdict that an Argo Rollouts analysis reads or asks for (``verdicts``)."""

from deployments.services.release_tools.flagger import (
    EVENT,
    HOOKS,
    FlaggerCall,
    HookAnswer,
    flagger_hook,
    flagger_step,
)
from deployments.services.release_tools.verdicts import Verdict, rollout_judge, rollout_verdict

__all__ = [
    "EVENT",
    "HOOKS",
    "FlaggerCall",
    "HookAnswer",
    "Verdict",
    "flagger_hook",
    "flagger_step",
    "rollout_judge",
    "rollout_verdict",
]
