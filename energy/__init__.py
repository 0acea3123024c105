"""What an inference costs: conventions and hardware profiles applied to evsim's counts.

    report = energy.estimate(run, profile="horowitz45-fp32", convention="exact")
    report = energy.analytic(spec, rates={"default": 0.15}, profile=..., convention="paper")
"""
from .analytic import analytic, analytic_stats, load_rates
from .conventions import DEFAULTS as CONVENTIONS
from .conventions import Convention, get_convention
from .estimate import estimate
from .profiles import Profile, load_profile
from .profiles import available as available_profiles
from .report import EnergyReport

__all__ = ["estimate", "analytic", "analytic_stats", "load_rates", "Convention", "get_convention", "CONVENTIONS",
           "Profile", "load_profile", "available_profiles", "EnergyReport"]
