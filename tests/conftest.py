"""Test-wide settings.

Hypothesis runs derandomized by default, so a CI run can't fail on an example no earlier run saw
(a property that breaks is found by exploring, then pinned as an explicit test). Explore with
`pytest --hypothesis-profile=explore` (random, more examples).
"""

from hypothesis import settings

settings.register_profile("default", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, max_examples=2000, print_blob=True)
settings.load_profile("default")
