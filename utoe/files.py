"""Atomic file output: a product is either complete or absent, never half
written (temporary file in the same directory, then rename)."""

import hashlib
import json
import os
import tempfile


def write_bytes(path, data):
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path, text):
    write_bytes(path, text.encode("utf-8"))


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def remove(*paths):
    """Remove products of a failed stage so nothing stale looks complete."""
    for p in paths:
        try:
            os.unlink(os.fspath(p))
        except FileNotFoundError:
            pass
        except OSError:  # a read-only or vanished tree: nothing can be removed, the error says why
            pass


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def read_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def read_json(path, error):
    """Parse a JSON product; failures raise `error` (a UtoeError subclass)
    with a message naming the file."""
    import json

    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror})") from None
    except ValueError as e:
        raise error(f"{path}: not valid JSON ({e})") from None
    except RecursionError:
        raise error(f"{path}: not valid JSON for utoe (nested too deeply)") from None
