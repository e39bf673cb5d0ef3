"""`climatelib demo`: load a realistic sample so that a new user sees a living service.

Institutions and products, a few hundred projects moved along the lifecycle, and offers through
every funnel status, all through the real API. The 23 first-batch pilots are already there (a
migration loads them); the projects are spread over their regions and other provinces (one in a
district a pilot covers only in part names the pilot in its pilot_id). The same
seed gives the same sample. A second run on the same database is refused: the first demo
institution's USCC marks a loaded sample.

``catalogue`` holds what the sample is made of, ``generator`` turns it and a seed into request
bodies, ``driver`` sends them.
"""

from app.demo.driver import (
    DEFAULT_PROJECTS,
    DEFAULT_SEED,
    DemoAlreadyLoaded,
    DemoError,
    DemoResult,
    run_demo,
)

__all__ = [
    "DEFAULT_PROJECTS",
    "DEFAULT_SEED",
    "DemoAlreadyLoaded",
    "DemoError",
    "DemoResult",
    "run_demo",
]
