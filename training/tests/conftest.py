"""Fixtures shared by more than one test module."""
import pytest

from convert_inputs import write_image_encoder


@pytest.fixture(scope="module")
def image_encoder_file(tmp_path_factory):
    """The converter's tests' DAMSM image encoder (convert_inputs.write_image_encoder), one per module."""
    return write_image_encoder(tmp_path_factory.mktemp("official_ie"))
