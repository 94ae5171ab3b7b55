"""The public Python API (utoe's modules used without SCons) refuses bad
input with a UtoeError whose message names the culprit, never with
pyelftools' ELFError, a KeyError, a RecursionError, Python's ValueError for
a 5,000-digit integer, or an AttributeError on None. Real files, no mocks."""

import json
import os
import shutil
import sys

import pytest

from utoe import boards, config, elfsize, fit, frontend, measure, models, protocol, report, stats
from utoe.errors import BoardError, BuildError, ConfigError, ModelError, UtoeError
from utoe.measure import MeasureError
from utoe.protocol import ProtocolError
from utoe.report import ReportError


def _a_real_elf():
    """An ELF executable of this machine (the Python interpreter, or /bin/true)."""
    for p in (os.path.realpath(sys.executable), shutil.which("true")):
        if p and open(p, "rb").read(4) == b"\x7fELF":
            return p
    pytest.skip("no ELF executable on this machine")


# ---- elfsize --------------------------------------------------------------

def test_sizes_of_a_file_that_is_not_elf(tmp_path):
    path = tmp_path / "firmware.elf"
    path.write_text("I am the README, not a firmware\n")
    with pytest.raises(BuildError, match=rf"{path}: not a readable ELF firmware \(Magic number does not match\)"):
        elfsize.sizes(str(path))


def test_sizes_of_an_empty_file(tmp_path):
    path = tmp_path / "firmware.elf"
    path.write_bytes(b"")
    with pytest.raises(BuildError, match=rf"{path}: not a readable ELF firmware"):
        elfsize.sizes(str(path))


def test_sizes_of_a_truncated_elf(tmp_path):
    """A real ELF's first 200 bytes: the header parses, the section table is
    past the end (pyelftools' ELFParseError, raised lazily while iterating)."""
    path = tmp_path / "firmware.elf"
    path.write_bytes(open(_a_real_elf(), "rb").read(200))
    with pytest.raises(BuildError, match=rf"{path}: not a readable ELF firmware \(.*past EOF"):
        elfsize.sizes(str(path))


# ---- stats ------------------------------------------------------------------

@pytest.mark.parametrize("values", [[], [float("nan")], ["1"], None])
def test_summary_of_bad_values_is_a_utoe_error(values):
    with pytest.raises(UtoeError):
        stats.summary(values)


def test_t975_of_no_degrees_of_freedom():
    with pytest.raises(UtoeError, match="degrees of freedom"):
        stats.t975(0)


# ---- boards -------------------------------------------------------------------

@pytest.mark.parametrize("name", [None, 3, ["native"]])
def test_get_a_board_that_is_not_a_name(name):
    with pytest.raises(BoardError, match="a board name is a string"):
        boards.get(name)


def test_get_an_unknown_board_suggests():
    with pytest.raises(BoardError, match=r"unknown board 'nativ' — did you mean 'native'"):
        boards.get("nativ")


def test_load_a_missing_board_file(tmp_path):
    with pytest.raises(BoardError, match=r"nope.toml: cannot read the board file \(No such file"):
        boards.load(str(tmp_path / "nope.toml"))


def test_load_a_board_file_with_an_integer_python_will_not_convert(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text('name = "big"\nram_bytes = ' + "9" * 5000 + "\n")
    with pytest.raises(BoardError, match=r"big.toml: not a usable board file \(Exceeds the limit"):
        boards.load(str(path))


def test_load_a_board_file_that_is_not_text(tmp_path):
    path = tmp_path / "bin.toml"
    path.write_bytes(b'name = "\xff\xfe"\n')
    with pytest.raises(BoardError, match=r"bin.toml: not valid TOML: not UTF-8"):
        boards.load(str(path))


# ---- config -------------------------------------------------------------------

@pytest.mark.parametrize("key", ["trials", "seed", "timeout"])
def test_a_number_too_long_for_int_is_out_of_range(key):
    """int() refuses 4,300+ digits with a ValueError; this is a user's typo."""
    with pytest.raises(ConfigError, match=rf"^{key}=99999999999999999999\.\.\.\(5,000 characters\): out of range"):
        config.settings("native", "sine", **{key: "9" * 5000})


@pytest.mark.parametrize("board,model", [(None, "sine"), ("native", None), ("native", 3)])
def test_settings_of_a_board_or_model_that_is_not_a_name(board, model):
    with pytest.raises(ConfigError, match=r"(board|model)= takes a name"):
        config.settings(board, model)


@pytest.mark.parametrize("option,value,message", [
    ("baudrate", "fast", r"baudrate=fast: expected a non-negative decimal integer"),
    ("baudrate", "9" * 30, r"baudrate=9+: out of range \[50, 20000000\]"),
])
def test_numeric_runner_options_are_checked_with_the_settings(option, value, message):
    """Not first in the middle of a run, as int() or the serial port's
    OverflowError: before anything is built (and before RIOT is looked for)."""
    with pytest.raises(ConfigError, match=message):
        config.settings("nrf52840dk", "sine", runner="serial", runner_options={option: value})


def test_iotlab_duration_is_checked_with_the_settings():
    with pytest.raises(ConfigError, match=r"iotlab_duration=0: out of range \[1, 10080\]"):
        config.settings("iotlab-m3", "sine", runner="iotlab", runner_options={"iotlab_duration": "0"})


# ---- JSON readers: measure, report ------------------------------------------------

def _deep_json(path):
    path.write_text("[" * 100_000 + "]" * 100_000)
    return str(path)


def test_report_reader_of_json_nested_too_deeply(tmp_path):
    path = _deep_json(tmp_path / "result.json")
    with pytest.raises(ReportError, match=rf"{path}: not valid JSON for utoe \(nested too deeply\)"):
        report.load_results([path])


def test_measure_reader_of_json_nested_too_deeply(tmp_path):
    meta = _deep_json(tmp_path / "metadata.json")
    with pytest.raises(MeasureError, match=rf"{meta}: not valid JSON for utoe"):
        measure.measure_files(meta, meta, meta, {}, str(tmp_path / "result.json"))
    assert not os.path.exists(tmp_path / "result.json")


def _result(**latency):
    lat = {"kind": "measured", "mean": 1.0, "median": 1.0, "min": 1.0, "max": 1.0, "ci95": [1.0, 1.0]}
    lat.update(latency)
    return {"schema": "utoe.result/1", "status": "ok", "board": "native", "model": "m", "mode": "per-model",
            "latency": lat, "ram": {"kind": "measured", "total_bytes": 10},
            "flash": {"kind": "measured", "total_bytes": 20}, "operators": []}


@pytest.mark.parametrize("latency,message", [
    ({"mean": "fast"}, r"latency: 'mean' is str 'fast', expected a number"),
    ({"ci95": [1.0]}, r"latency: 'ci95' is \[1.0\], expected \[low, high\]"),
    ({"kind": None}, r"latency: 'kind' is NoneType None, expected str"),
])
def test_report_reader_names_the_file_and_the_bad_field(tmp_path, latency, message):
    path = tmp_path / "result.json"
    path.write_text(json.dumps(_result(**latency)))
    with pytest.raises(ReportError, match=rf"{path}: {message}"):
        report.load_results([str(path)])


def test_report_tables_of_a_result_missing_a_field():
    r = _result()
    del r["latency"]["median"]
    for table in (report.model_table, report.summary_markdown):
        with pytest.raises(ReportError, match=r"result native/m: latency: missing 'median'"):
            table([r])
    with pytest.raises(ReportError, match=r"result native/m: missing 'operators'"):
        report.operator_table({k: v for k, v in _result().items() if k != "operators"})


def test_write_report_of_no_result_object(tmp_path):
    with pytest.raises(ReportError, match="a result is a JSON object, not list"):
        report.write_report([[]], str(tmp_path / "report"))
    assert not os.path.exists(tmp_path / "report" / "report.json")


# ---- frontend, models, protocol, fit -------------------------------------------

@pytest.mark.parametrize("fn", [frontend.detect_format, frontend.import_model])
def test_a_model_path_that_is_not_a_path(fn):
    with pytest.raises(ModelError, match="a model file is a path, not NoneType"):
        fn(None)


def test_detect_format_takes_a_pathlike(tmp_path):
    path = tmp_path / "notes.tflite"
    path.write_text("not a model")
    with pytest.raises(ModelError, match=r"notes.tflite: not a TFLite model"):
        frontend.detect_format(path)


def test_resolve_a_model_that_is_not_a_name():
    with pytest.raises(ModelError, match="a model is a zoo name or a file path, not NoneType"):
        models.resolve(None)


def test_parse_log_of_no_text():
    with pytest.raises(ProtocolError, match="a console log is text, not NoneType"):
        protocol.parse_log(None)


def test_parse_log_of_console_bytes():
    run = protocol.parse_log(b"noise\nutoe: end status=ok\n")
    assert run.status == "ok"


@pytest.mark.parametrize("metadata", [{}, [], {"model": "m", "memory": {"arena_bytes": "12"}}])
def test_fit_precheck_of_metadata_that_is_not_codegens(metadata):
    for board in ("native", "hifive1b"):
        with pytest.raises(BuildError, match=r"codegen metadata: no 'model' name or integer 'memory.arena_bytes'"):
            fit.precheck(boards.get(board), metadata)


# ---- inputs, estimate -----------------------------------------------------------

@pytest.mark.parametrize("specs,seed,error,message", [
    ([("float32", (1, 4))], -1, ConfigError, r"seed=-1: expected an integer in \[0, 4294967295\]"),
    ([("float32", (1, 4))], 2**32, ConfigError, r"seed=4294967296"),
    ([("complex64", (1, 4))], 1, ModelError, r"input 0: no input generator for dtype 'complex64'"),
    ([("int8", (1, -4))], 1, ModelError, r"input 0: shape \[1, -4\] has a negative dimension"),
    ([{}], 1, ModelError, r"input specs: expected \[\(dtype name, shape\)\]"),
])
def test_generate_inputs_of_bad_specs(specs, seed, error, message):
    from utoe.inputs import generate_inputs

    with pytest.raises(error, match=message):
        generate_inputs(specs, seed)


def test_generate_inputs_still_matches_its_seed():
    from utoe.inputs import generate_inputs, xorshift32

    (x,) = generate_inputs([("int32", (1, 3))], 5)
    assert x.tolist() == [xorshift32(5, 3).view("int32").tolist()]


@pytest.mark.parametrize("cycles,est", [(10, {}), (10, {"clock_hz": 0}), (10, None), ("10", {"clock_hz": 1e6}),
                                        (-1, {"clock_hz": 1e6})])
def test_estimate_of_no_estimate_model(cycles, est):
    from utoe import estimate

    with pytest.raises(ConfigError, match=r"(latency estimate|cycles)"):
        estimate.ms(cycles, est)
    assert estimate.ms(320_000, estimate.model(boards.get("hifive1b"))) == 1.0  # 320 MHz


def test_estimate_of_a_malformed_detail_names_it():
    from utoe import estimate

    est = estimate.model(boards.get("hifive1b"))
    for detail, message in [({}, "expected the plugin's detail"), ({"classes": {"warp": 1}}, "class 'warp'"),
                            ({"classes": {"alu": -1}}, "'alu' must be a count"),
                            ({"classes": {"alu": 1}, "caches": {}}, "no cache 'icache'")]:
        with pytest.raises(ConfigError, match=message):
            estimate.cycles(detail, est, "icount.json")
