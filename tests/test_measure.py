"""utoe.measure: result.json from metadata, sizes, a run log and the run
configuration. The logs below are inputs to utoe.protocol's parser, written
the way the firmware prints them (docs/protocol.md)."""

import copy
import json
import os
import struct

import pytest

from utoe.measure import MeasureError, build_result, measure_files, write_result
from utoe.protocol import ProtocolError
from utoe.stats import summary

# metadata.json and sizes.json of sinus (1 -> 16 -> 16 -> 1, float32, U-TOE's
# per-operator example) as the real codegen and firmware stages wrote them for
# this checkout: set by the fixture below, so the schema cannot drift from the
# product's. The run logs are written here, with known ticks.
METADATA = SIZES = None


@pytest.fixture(autouse=True, scope="module")
def real_inputs(sinus_native):
    global METADATA, SIZES
    METADATA, SIZES = sinus_native.metadata, sinus_native.sizes
    assert [op["param_bytes"] for op in METADATA["operators"]] == [128, 1088, 68]  # what the tests below assume
    yield
    METADATA = SIZES = None


OUTPUT = struct.pack("<f", 0.7071067690849304)  # sin(pi/4) as float32


def fnv1a32(data):
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def config(**kw):
    c = {"board": "native", "model": "sinus", "runner": "host",
         "mode": "per-model", "trials": 5, "seed": 1,
         "kinds": {"latency": "measured", "ram": "measured",
                   "flash": "measured"},
         "tools": {"gcc": "12.2.0"}}
    c.update(kw)
    return c


# per-model run on native, nanosecond clock; note usec is rounded, ticks exact
TRIAL_TICKS = [154938123, 153717456, 154001999, 153999001, 154500500]


def per_model_log(ticks=TRIAL_TICKS, tick_hz=1000000000, stack=1234,
                  board="native", output=OUTPUT, checksum=None):
    checksum = fnv1a32(output) if checksum is None else checksum
    lines = ["main(): This is RIOT! (Version: 2024.01)",
             f"utoe: begin version=1 board={board} model=sinus mode=per-model "
             f"trials={len(ticks)} seed=1 ops=3 tick_hz={tick_hz}",
             "U-TOE Per-Model Evaluation",
             "Press any key to start >"]
    for i, t in enumerate(ticks):
        lines.append(f"trial: {i}, usec: {t * 1000000 // tick_hz}, ret: 0")
        lines.append(f"utoe: trial index={i} ticks={t} ret=0")
    lines += ["Evaluation finished >",
              f"utoe: stack peak_bytes={stack}",
              f"utoe: output index=0 dtype=float32 bytes={len(output)} "
              f"hex={output.hex()}",
              f"utoe: checksum fnv1a32=0x{checksum:08x}",
              "utoe: end status=ok"]
    return "\r\n".join(lines) + "\r\n"


# per-operator run: cycle-exact ticks in ns; trial 0 is U-TOE's example
OP_TICKS = [[8856, 46682, 2646], [8900, 46700, 2700], [8800, 46600, 2600]]


def per_operator_log(op_ticks=OP_TICKS, tick_hz=1000000000):
    lines = [f"utoe: begin version=1 board=native model=sinus mode=per-operator "
             f"trials={len(op_ticks)} seed=1 ops=3 tick_hz={tick_hz}",
             "U-TOE Per-Operator Evaluation"]
    for i, ops in enumerate(op_ticks):
        for j, t in enumerate(ops):
            lines.append(f"utoe: op trial={i} index={j} ticks={t} ret=0")
        total = sum(ops) + 150
        lines.append(f"trial: {i}, usec: {total * 1000000 // tick_hz}, ret: 0")
        lines.append(f"utoe: trial index={i} ticks={total} ret=0")
    lines += ["Evaluation finished >",
              "utoe: stack peak_bytes=1234",
              f"utoe: output index=0 dtype=float32 bytes=4 hex={OUTPUT.hex()}",
              f"utoe: checksum fnv1a32=0x{fnv1a32(OUTPUT):08x}",
              "utoe: end status=ok"]
    return "\n".join(lines) + "\n"


def per_model_result(**kw):
    return build_result(METADATA, SIZES, per_model_log(), config(**kw))


def per_operator_result(**kw):
    return build_result(METADATA, SIZES, per_operator_log(),
                        config(mode="per-operator", trials=3, **kw))


def test_per_model_figures_from_ticks():
    r = per_model_result()
    assert r["schema"] == "utoe.result/1"
    assert (r["board"], r["model"], r["runner"], r["mode"], r["trials"],
            r["seed"]) == ("native", "sinus", "host", "per-model", 5, 1)
    lat = r["latency"]
    assert lat["unit"] == "ms" and lat["kind"] == "measured"
    # exact ticks, not the integer usec of U-TOE's line
    assert lat["trials_ms"] == [t / 1e6 for t in TRIAL_TICKS]
    assert lat["trials_ms"][0] == pytest.approx(154.938123, abs=1e-12)
    s = summary([t / 1e6 for t in TRIAL_TICKS])
    assert lat["mean"] == s["mean"] and lat["ci95"] == s["ci95"]
    assert lat["median"] == pytest.approx(154.001999, abs=1e-12)
    assert lat["min"] == pytest.approx(153.717456, abs=1e-12)
    assert lat["max"] == pytest.approx(154.938123, abs=1e-12)
    assert lat["ci95"][0] < lat["mean"] < lat["ci95"][1]
    assert r["tick_hz"] == 1000000000


def test_riot_stack_is_not_counted_twice():
    """On RIOT the harness's stack is a thread stack inside .bss: RAM is data
    + bss, and the peak is reported but not added on top."""
    r = build_result(METADATA, SIZES, per_model_log(), config(stack_in_static=True))
    assert r["ram"]["total_bytes"] == r["ram"]["static_bytes"] == static_ram()
    assert r["ram"]["stack_peak_bytes"] == 1234 and r["ram"]["stack_in_static"] is True


def static_ram():
    return SIZES["ram"]["data"] + SIZES["ram"]["bss"]


def flash_total():
    return SIZES["flash"]["text"] + SIZES["flash"]["rodata"] + SIZES["flash"]["data"]


def test_per_model_memory_outputs_and_versions():
    r = per_model_result()
    assert r["ram"] == {"kind": "measured", "total_bytes": static_ram() + 1234,
                        "static_bytes": static_ram(), "stack_peak_bytes": 1234, "stack_in_static": False,
                        "model": SIZES["ram"]["model"], "rest": SIZES["ram"]["rest"]}
    assert SIZES["ram"]["model"]["arena"] == METADATA["memory"]["arena_bytes"]
    assert r["flash"] == {"kind": "measured", "total_bytes": flash_total(),
                          "model": SIZES["flash"]["model"], "rest": SIZES["flash"]["rest"]}
    assert r["flash"]["model"]["weights"] == METADATA["weights_bytes"] == 1284
    assert r["stack_peak_bytes"] == 1234
    assert r["outputs"] == [{"index": 0, "dtype": "float32",
                             "bytes_hex": OUTPUT.hex()}]
    assert r["checksum"] == "0x%08x" % fnv1a32(OUTPUT)
    assert len(r["checksum"]) == 10
    assert r["source"] == {"path": METADATA["source"]["path"], "sha256": METADATA["source"]["sha256"]}
    assert r["tools"]["tvm"] == METADATA["tvm_version"] and r["tools"]["gcc"] == "12.2.0"
    assert "utoe" in r["tools"]
    ops = r["operators"]
    assert [o["name"] for o in ops] == [o["name"] for o in METADATA["operators"]]
    assert [o["memory_bytes"] for o in ops] == [68, 128, 68]
    assert [o["storage_bytes"] for o in ops] == [128, 1088, 68]
    assert all(o["latency"] is None and o["share_pct"] is None for o in ops)
    assert json.loads(json.dumps(r)) == r  # JSON as it is: no tuples, no numpy scalars


def test_other_tick_rate_and_kinds():
    # a 48 MHz cycle counter: 4800000 cycles = 100 ms
    log = per_model_log(ticks=[4800000, 4800048, 4799952], tick_hz=48000000,
                        board="samr21-xpro")
    kinds = {"latency": "estimated", "ram": "measured", "flash": "measured"}
    r = build_result(METADATA, SIZES, log, config(board="samr21-xpro",
                                                  trials=3, kinds=kinds))
    assert r["latency"]["trials_ms"] == [100.0, 100.001, 99.999]
    assert r["latency"]["median"] == 100.0
    assert r["latency"]["kind"] == "estimated"


def test_per_operator_latency_and_shares():
    r = per_operator_result()
    ops = r["operators"]
    medians = [o["latency"]["median_ms"] for o in ops]
    assert medians == [0.008856, 0.046682, 0.002646]
    assert ops[0]["latency"] == {"median_ms": 0.008856,
                                 "mean_ms": pytest.approx(0.008852, abs=1e-12),
                                 "min_ms": 0.0088, "max_ms": 0.0089}
    shares = [o["share_pct"] for o in ops]
    assert sum(shares) == pytest.approx(100.0, abs=1e-9)
    assert [round(s, 2) for s in shares] == [15.22, 80.23, 4.55]
    assert [o["params"] for o in ops] == [["p0", "p1"], ["p2", "p3"],
                                         ["p4", "p5"]]
    # the trial figures are the whole trials (first op start to last op end)
    assert r["latency"]["trials_ms"][0] == pytest.approx(
        (8856 + 46682 + 2646 + 150) / 1e6, abs=1e-15)


def test_stack_not_supported():
    r = build_result(METADATA, SIZES, per_model_log(stack=0), config())
    assert r["stack_peak_bytes"] is None
    assert r["ram"]["stack_peak_bytes"] is None
    assert r["ram"]["total_bytes"] == r["ram"]["static_bytes"] == static_ram()


def _error(exc):
    return str(exc.value)


def test_incomplete_log_names_the_missing_line_and_writes_nothing(tmp_path):
    (tmp_path / "metadata.json").write_text(json.dumps(METADATA))
    (tmp_path / "sizes.json").write_text(json.dumps(SIZES))
    # the board was reset after the third trial: nothing after it
    full = per_model_log()
    cut = full[:full.index("utoe: trial index=2")]
    cut = cut + "utoe: trial index=2 ticks=154001999 ret=0\r\n"
    (tmp_path / "run.log").write_text(cut)
    out = tmp_path / "result.json"
    with pytest.raises((ProtocolError, MeasureError)) as e:
        measure_files(tmp_path / "metadata.json", tmp_path / "sizes.json",
                      tmp_path / "run.log", config(), out)
    msg = _error(e)
    assert msg.startswith("log has no 'utoe: end' line: the run stopped early (last lines: "), msg
    assert msg.endswith("| utoe: trial index=2 ticks=154001999 ret=0)"), msg  # the tail, as the board left it
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["metadata.json", "run.log",
                                            "sizes.json"]


@pytest.mark.parametrize("missing, word", [
    ("utoe: end status=ok", "end"),
    ("utoe: stack peak_bytes=1234", "stack"),
    ("utoe: checksum fnv1a32=", "checksum"),
    ("utoe: output index=0", "output"),
])
def test_missing_line_is_named(missing, word):
    lines = [ln for ln in per_model_log().splitlines()
             if not ln.startswith(missing)]
    with pytest.raises((ProtocolError, MeasureError), match=word):
        build_result(METADATA, SIZES, "\n".join(lines) + "\n", config())


def test_missing_op_line_is_named():
    log = per_operator_log().replace(
        "utoe: op trial=1 index=2 ticks=2700 ret=0\n", "")
    with pytest.raises((ProtocolError, MeasureError), match="op"):
        build_result(METADATA, SIZES, log, config(mode="per-operator", trials=3))


def test_failed_trial_is_an_error():
    log = per_model_log().replace("utoe: trial index=3 ticks=153999001 ret=0",
                                  "utoe: trial index=3 ticks=153999001 ret=-5")
    log = log.replace("trial: 3, usec: 153999, ret: 0",
                      "trial: 3, usec: 153999, ret: -5")
    log = log.replace("utoe: end status=ok", "utoe: end status=error code=-5")
    with pytest.raises((ProtocolError, MeasureError)):
        build_result(METADATA, SIZES, log, config())


def test_checksum_mismatch_is_an_error():
    log = per_model_log(checksum=0x12345678)
    with pytest.raises((ProtocolError, MeasureError), match="checksum"):
        build_result(METADATA, SIZES, log, config())


def test_log_of_another_run_is_rejected():
    with pytest.raises(MeasureError, match="begin.*board=native"):
        build_result(METADATA, SIZES, per_model_log(), config(board="nrf52dk"))
    with pytest.raises(MeasureError, match="trials"):
        build_result(METADATA, SIZES, per_model_log(), config(trials=10))


def test_bad_inputs_name_their_file(tmp_path):
    sizes = copy.deepcopy(SIZES)
    sizes["ram"]["rest"] += 1
    with pytest.raises(MeasureError, match="sizes.json"):
        build_result(METADATA, sizes, per_model_log(), config())
    md = copy.deepcopy(METADATA)
    del md["operators"]
    with pytest.raises(MeasureError, match="metadata.json.*operators"):
        build_result(md, SIZES, per_model_log(), config())
    with pytest.raises(MeasureError, match="kinds"):
        build_result(METADATA, SIZES, per_model_log(),
                     config(kinds={"latency": "guessed", "ram": "measured",
                                   "flash": "measured"}))
    (tmp_path / "sizes.json").write_text('{"schema": "utoe.sizes/1", ')
    (tmp_path / "metadata.json").write_text(json.dumps(METADATA))
    (tmp_path / "run.log").write_text(per_model_log())
    with pytest.raises(MeasureError, match=str(tmp_path / "sizes.json")):
        measure_files(tmp_path / "metadata.json", tmp_path / "sizes.json",
                      tmp_path / "run.log", config(), tmp_path / "result.json")
    assert not (tmp_path / "result.json").exists()


def test_measure_files_and_atomic_write(tmp_path):
    (tmp_path / "metadata.json").write_text(json.dumps(METADATA))
    (tmp_path / "sizes.json").write_text(json.dumps(SIZES))
    (tmp_path / "run.log").write_text(per_model_log())
    out = tmp_path / "out" / "result.json"
    r = measure_files(tmp_path / "metadata.json", tmp_path / "sizes.json",
                      tmp_path / "run.log", config(), out)
    assert json.loads(out.read_text()) == r
    # rewriting replaces the file and leaves no temporary file behind
    r2 = per_operator_result()
    write_result(out, r2)
    assert json.loads(out.read_text()) == r2
    assert os.listdir(tmp_path / "out") == ["result.json"]


def test_the_real_run_measures_as_the_build_did(sinus_native, tmp_path):
    """The harness's own log of the session's sinus build, measured again
    from the files the stages wrote, gives the build's result.json."""
    built = sinus_native.result
    cfg = {"board": built["board"], "model": built["model"], "runner": built["runner"], "mode": built["mode"],
           "trials": built["trials"], "seed": built["seed"],
           "kinds": {k: built[k]["kind"] for k in ("latency", "ram", "flash")}, "tools": {}}
    r = measure_files(sinus_native.metadata_path, sinus_native.pair / "sizes.json", sinus_native.pair / "run.log",
                      cfg, tmp_path / "result.json")
    assert (r["board"], r["model"], r["trials"]) == ("native", "sinus", 5)
    assert r["latency"] == built["latency"] and len(r["latency"]["trials_ms"]) == 5
    assert r["ram"] == built["ram"] and r["flash"] == built["flash"]
    assert r["outputs"] == built["outputs"] and r["checksum"] == built["checksum"]
    assert [o["name"] for o in r["operators"]] == [o["name"] for o in sinus_native.metadata["operators"]]
