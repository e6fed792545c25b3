"""The built-in 8x8 digits."""

import pytest

from shadowplay.data import SourceOptions, load_data
from shadowplay.errors import DataError


def test_digits_refuse_an_image_size_they_cannot_have():
    """data.image_size used to be ignored here without a word: 8x8 images trained as 8x8 whatever it said."""
    with pytest.raises(DataError, match="digits: images are 8x8 and data.image_size=32 cannot change that"):
        load_data("digits", options=SourceOptions(image_size=32))
    assert load_data("digits", options=SourceOptions(image_size=8)).train.shape == (1, 8, 8)
