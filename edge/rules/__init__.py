"""Pure rule state machines: an observation stream (one per window per analysis tick) in, event lifecycle
and state messages out. No cameras, no clocks of their own: time is the observation's timestamp."""

from edge.rules.engine import BehaviourReading, Observation, WindowRules

__all__ = ["BehaviourReading", "Observation", "WindowRules"]
