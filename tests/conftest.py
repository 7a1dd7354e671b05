import pytest

from golden.config import preset
from golden.zoo import random_model

PRESET_NAMES = ("tiny", "tiny-odd", "tiny-expand")


@pytest.fixture(params=PRESET_NAMES)
def any_model(request):
    """A seeded random model of each small preset (non-trivial norms, lower bounds, embeddings)."""
    return random_model(preset(request.param), seed=1)
