import os
import shutil

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_MODELS = os.environ.get("UTOE_SHARED_MODELS") or os.path.join(os.path.dirname(ROOT), "shared", "models")


def shared_model(name):
    """Path of a model in ../shared/models, or skip the test with the reason."""
    path = os.path.join(SHARED_MODELS, name)
    if not os.path.exists(path):
        pytest.skip(f"{path} absent: the externally trained models live in ../shared/models")
    return path


@pytest.fixture
def project_copy(tmp_path):
    """A copy of the project's build inputs in tmp_path, for tests that edit
    templates or run SCons without touching the checkout."""
    dst = tmp_path / "utoe"
    ignore = shutil.ignore_patterns("build", "__pycache__", ".git", ".pytest_cache", "*.egg-info", ".sconsign*")
    shutil.copytree(ROOT, dst, ignore=ignore)
    return dst
