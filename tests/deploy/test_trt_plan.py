"""The TensorRT version dispatch, over every release family, precision, graph set and DLA choice."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from deploy.trt_plan import (JETPACKS, MIB, TRTEXEC, BuildOptions, ModelGraphs, PlanError, TrtVersion,
                             engine_file_name, jetpack_for, plan_build, trtexec_command)

VERSIONS = ["8.5.2.2", "8.6.1", "9.3.0", "10.0.1", "10.3.0.30", "10.11.0", "10.12.0", "10.13.3.9", "11.0.0",
            "11.4.1"]
ALL = ModelGraphs(fp32="step.onnx", fp16="step_fp16.onnx", int8_qdq="step_int8.onnx",
                  tables={"8.5.2": "calibration_trt8.5.2.cache", "10.3.0": "calibration_trt10.3.0.cache"})


def graph_sets() -> list[ModelGraphs]:
    out = []
    for fp16, int8, tables in itertools.product((None, "step_fp16.onnx"), (None, "step_int8.onnx"),
                                                ({}, ALL.tables)):
        out.append(ModelGraphs("step.onnx", fp16, int8, tables))
    return out


@pytest.mark.parametrize("text, expected", [
    ("10.3.0.30", (10, 3, 0, 30)), ("8.5.2.2", (8, 5, 2, 2)), ("8.5", (8, 5, 0, 0)), (" 11.4.1 ", (11, 4, 1, 0)),
])
def test_version_parsing(text: str, expected: tuple[int, ...]) -> None:
    v = TrtVersion.parse(text)
    assert (v.major, v.minor, v.patch, v.build) == expected
    assert TrtVersion.parse("10.3.0.30") == TrtVersion.parse("10.3.0.26")  # builds compare equal
    assert TrtVersion.parse("8.6") < TrtVersion.parse("10.0") < TrtVersion.parse("10.12")


@pytest.mark.parametrize("bad", ["", "ten", "10", "10.3.0.1.2", "10.-1"])
def test_bad_versions_are_refused(bad: str) -> None:
    with pytest.raises(PlanError, match="TensorRT version"):
        TrtVersion.parse(bad)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
@pytest.mark.parametrize("dla", [None, 0])
@pytest.mark.parametrize("graphs", graph_sets(), ids=lambda g: f"fp16={bool(g.fp16)}-qdq={bool(g.int8_qdq)}-tables={bool(g.tables)}")
def test_dispatch_rules_hold_everywhere(version: str, precision: str, dla: int | None, graphs: ModelGraphs) -> None:
    """Every combination either builds by SPEC.md's rules or is refused with advice."""
    v = TrtVersion.parse(version)
    options = BuildOptions(precision=precision, dla_core=dla)  # type: ignore[arg-type]
    modern = v >= TrtVersion(10, 12)
    expect_refusal = (
        (dla is not None and precision == "fp32")
        or (modern and precision == "fp16" and graphs.fp16 is None)
        or (modern and precision == "int8" and graphs.int8_qdq is None)
        or (not modern and precision == "int8" and graphs.int8_qdq is None and v.release not in graphs.tables)
    )
    if expect_refusal:
        with pytest.raises(PlanError) as err:
            plan_build(v, options, graphs)
        assert "DLA" in str(err.value) or "dms calibrate" in str(err.value)
        return
    plan = plan_build(v, options, graphs)
    assert plan.precision == precision and plan.dla_core == dla
    assert ("GPU_FALLBACK" in plan.builder_flags) == (dla is not None)
    precision_flags = set(plan.builder_flags) - {"GPU_FALLBACK"}
    if modern:
        # Strongly typed from the graph that carries the precision; no deprecated flags, no calibrator.
        assert plan.api == "strongly-typed" and not precision_flags and plan.calibration_table is None
        assert plan.network_flags == (() if v.major >= 11 else ("STRONGLY_TYPED",))
        assert plan.graph == {"fp32": graphs.fp32, "fp16": graphs.fp16, "int8": graphs.int8_qdq}[precision]
    else:
        assert plan.api == "legacy"
        assert plan.network_flags == (("EXPLICIT_BATCH",) if v.major < 10 else ())
        assert precision_flags == {"fp32": set(), "fp16": {"FP16"}, "int8": {"INT8"}}[precision]
        if precision == "fp32":
            assert plan.graph == graphs.fp32
        elif precision == "fp16":
            assert plan.graph == (graphs.fp16 or graphs.fp32)
        elif graphs.int8_qdq is not None:  # the Q/DQ graph wins over a table
            assert plan.graph == graphs.int8_qdq and plan.calibration_table is None
        else:  # implicit INT8: FP32 graph + the table of exactly this release
            assert plan.graph == graphs.fp32
            assert plan.calibration_table == graphs.tables[v.release]


def test_the_three_jetpacks() -> None:
    """The concrete plans an integrator gets on JetPack 5.1, 6.x and 7.x for the default INT8."""
    plans = {jp.name: plan_build(jp.tensorrt, BuildOptions(), ALL) for jp in JETPACKS}
    assert [(p.api, p.graph, p.network_flags, p.builder_flags) for p in plans.values()] == [
        ("legacy", "step_int8.onnx", ("EXPLICIT_BATCH",), ("INT8",)),
        ("legacy", "step_int8.onnx", (), ("INT8",)),
        ("strongly-typed", "step_int8.onnx", ("STRONGLY_TYPED",), ()),
    ]


def test_implicit_int8_needs_the_table_of_that_release() -> None:
    no_qdq = ModelGraphs("step.onnx", "step_fp16.onnx", None, ALL.tables)
    plan = plan_build(TrtVersion(8, 5, 2), BuildOptions(), no_qdq)
    assert plan.calibration_table == "calibration_trt8.5.2.cache" and plan.graph == "step.onnx"
    with pytest.raises(PlanError, match=r"8\.5\.3.*tables for: 10\.3\.0, 8\.5\.2"):
        plan_build(TrtVersion(8, 5, 3), BuildOptions(), no_qdq)
    with pytest.raises(PlanError, match="removed in 11"):
        plan_build(TrtVersion(10, 13, 0), BuildOptions(), no_qdq)


def test_too_old_and_bad_options_are_refused() -> None:
    with pytest.raises(PlanError, match="8.5.0 or newer"):
        plan_build(TrtVersion(8, 4, 3), BuildOptions(), ALL)
    with pytest.raises(PlanError, match="dla_core"):
        plan_build(TrtVersion(10, 3), BuildOptions(dla_core=-1), ALL)
    with pytest.raises(PlanError, match="workspace_mb"):
        plan_build(TrtVersion(10, 3), BuildOptions(workspace_mb=0), ALL)
    with pytest.raises(PlanError, match="precision"):
        plan_build(TrtVersion(10, 3), BuildOptions(precision="int4"), ALL)  # type: ignore[arg-type]


def test_trtexec_command_mirrors_the_plan() -> None:
    model, engine = Path("/opt/dms/model"), Path("/var/lib/dms/engines/step_int8_dla0.engine")
    opts = BuildOptions(precision="int8", dla_core=0, workspace_mb=256, timing_cache=Path("/var/t.cache"))
    legacy = trtexec_command(plan_build(TrtVersion(8, 5, 2), opts, ALL), model, engine)
    assert legacy == [TRTEXEC, "--onnx=/opt/dms/model/step_int8.onnx", f"--saveEngine={engine}", "--int8",
                      "--useDLACore=0", "--allowGPUFallback", "--memPoolSize=workspace:256",
                      "--timingCacheFile=/var/t.cache"]
    modern = trtexec_command(plan_build(TrtVersion(10, 13), BuildOptions(precision="fp16"), ALL), model, engine)
    assert modern == [TRTEXEC, "--onnx=/opt/dms/model/step_fp16.onnx", f"--saveEngine={engine}", "--stronglyTyped"]
    table = trtexec_command(plan_build(TrtVersion(10, 3), BuildOptions(),
                                       ModelGraphs("step.onnx", None, None, ALL.tables)), model, engine)
    assert "--calib=/opt/dms/model/calibration_trt10.3.0.cache" in table and "--int8" in table
    assert plan_build(TrtVersion(10, 3), opts, ALL).workspace_bytes == 256 * MIB


def test_engine_names_and_jetpack_lookup() -> None:
    assert engine_file_name("int8") == "step_int8.engine"
    assert engine_file_name("fp16", 1) == "step_fp16_dla1.engine"
    assert jetpack_for(TrtVersion.parse("10.3.0.30")).name == "JetPack 6.1/6.2"  # type: ignore[union-attr]
    assert jetpack_for(TrtVersion.parse("8.5.2.2")).cuda == "11.4"  # type: ignore[union-attr]
    assert jetpack_for(TrtVersion(9, 0)) is None
