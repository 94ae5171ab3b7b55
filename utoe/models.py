"""The model zoo registry (models/registry.toml) and `model=` resolution.

`model=` is a zoo name or a path to a model file. Zoo entries point either at
the project's own models/ or at the externally trained models in
../shared/models (UTOE_SHARED_MODELS overrides that folder)."""

import hashlib
import os
import re
import tomllib
from dataclasses import dataclass

from .errors import ModelError, suggest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.path.join(ROOT, "models")
REGISTRY = os.path.join(MODELS_DIR, "registry.toml")
MODEL_SUFFIXES = (".tflite", ".onnx", ".pt2")


def shared_models_dir():
    return os.environ.get("UTOE_SHARED_MODELS") or os.path.join(os.path.dirname(ROOT), "shared", "models")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    path: str
    task: str = ""
    source: str = ""
    zoo: bool = False


def registry():
    with open(REGISTRY, "rb") as f:
        data = tomllib.load(f)
    out = {}
    for name, entry in data.items():
        if ("file" in entry) == ("shared" in entry):
            raise ModelError(f"{REGISTRY}: model '{name}' needs exactly one of 'file' or 'shared'")
        if "file" in entry:
            path = os.path.join(MODELS_DIR, entry["file"])
        else:
            path = os.path.join(shared_models_dir(), entry["shared"])
        out[name] = ModelSpec(name, os.path.normpath(path), entry.get("task", ""), entry.get("source", ""), True)
    return out


def _safe_name(stem):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem) or "model"


def resolve(value):
    """A zoo name or a path to a model file -> ModelSpec (the file must exist)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise ModelError(f"a model is a zoo name or a file path, not {type(value).__name__} {value!r:.40}")
    zoo = registry()
    if value in zoo:
        spec = zoo[value]
        if not os.path.exists(spec.path):
            where = "../shared/models (set UTOE_SHARED_MODELS)" if spec.path.startswith(shared_models_dir()) else "models/"
            raise ModelError(f"model '{value}': file not found: {spec.path} — it lives in {where}")
        return spec
    looks_like_path = os.sep in value or value.endswith(MODEL_SUFFIXES) or os.path.exists(value)
    if not looks_like_path:
        raise ModelError(suggest(value, zoo, "model") + " — give a zoo name (`scons model=list`) or a path to a "
                         ".tflite, .onnx or .pt2 file")
    path = os.path.abspath(value)
    try:
        os.stat(path)
    except FileNotFoundError:
        raise ModelError(f"model file not found: {value}") from None
    except OSError as e:  # exists() says False for a file in a directory one may not search, too
        raise ModelError(f"{value}: cannot reach the model file ({e.strerror or e}; "
                         f"check the permissions of {os.path.dirname(path)})") from None
    return ModelSpec(_path_name(path, zoo), path)


def _path_name(path, zoo):
    """The name a model given by path builds under: a zoo model's own name
    when the path is its file (models/lenet5.onnx is lenet5_onnx), else the
    file's stem, with its format appended when the stem is a zoo name (a
    foreign lenet5.onnx must not share build/<board>/lenet5 with the zoo's
    lenet5), and a hash of its path if that is one too."""
    for spec in zoo.values():
        if os.path.exists(spec.path) and os.path.samefile(spec.path, path):
            return spec.name
    stem, ext = os.path.splitext(os.path.basename(path))
    name = _safe_name(stem)
    if name in zoo:
        name = _safe_name(f"{stem}_{ext.lstrip('.') or 'model'}")
    if name in zoo:
        name += "_" + hashlib.sha256(path.encode()).hexdigest()[:6]
    return name


def check_distinct(specs):
    """Two different files under one name would share build/<board>/<name>/
    and one codegen: the second would silently never be compiled. Raise a
    ModelError naming both files instead. The same file given twice (a zoo
    name and its path) is one model."""
    by_name = {}
    for spec in specs:
        by_name.setdefault(spec.name, {}).setdefault(os.path.realpath(spec.path), spec.path)
    for name, paths in by_name.items():
        if len(paths) > 1:
            files = sorted(paths.values())
            raise ModelError(
                f"model files {' and '.join(files)} would both build as '{name}' (build/<board>/{name}/): "
                f"rename one of them, or evaluate them in separate runs")
