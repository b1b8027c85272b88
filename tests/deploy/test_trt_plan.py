"""The TensorRT version dispatch, over every release family, precision, graph set and DLA choice."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from deploy.trt_plan import (JETPACKS, MIB, TRTEXEC, BuildOptions, ModelGraphs, PlanError, TrtVersion,
                             dla_unavailable, engine_file_name, jetpack_for, plan_build, trtexec_command)

VERSIONS = ["8.5.2.2", "8.6.1", "9.3.0", "10.0.1", "10.3.0.30", "10.7.0", "10.8.0", "10.11.0", "10.12.0",
            "10.13.3.9", "11.0.0", "11.4.0", "11.4.1"]


def has_dla(v: TrtVersion) -> bool:
    """The releases with DLA on Jetson (TensorRT docs, "Working with DLA", 11.4.1): up to 10.7, and 11.4.1+."""
    return v < TrtVersion(10, 8) or v >= TrtVersion(11, 4, 1)
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
    on_dla = dla is not None
    # Legacy INT8 needs this release's table when there is no Q/DQ graph, and always on DLA
    # (DLA before TensorRT 11 runs implicit quantization only).
    implicit_int8 = not modern and precision == "int8" and (on_dla or graphs.int8_qdq is None)
    expect_refusal = (
        (on_dla and not has_dla(v))
        or (on_dla and precision == "fp32")
        or (modern and precision == "fp16" and graphs.fp16 is None)
        or (modern and precision == "int8" and graphs.int8_qdq is None)
        or (implicit_int8 and v.release not in graphs.tables)
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
        # INT8 always with FP16 beside it, except GPU implicit INT8 (Q/DQ: unquantized layers
        # in FP16; DLA: layers without a scale stay on the DLA in FP16).
        int8_flags = {"INT8"} if implicit_int8 and not on_dla else {"INT8", "FP16"}
        assert precision_flags == {"fp32": set(), "fp16": {"FP16"}, "int8": int8_flags}[precision]
        if precision == "fp32":
            assert plan.graph == graphs.fp32
        elif precision == "fp16":
            assert plan.graph == (graphs.fp16 or graphs.fp32)
        elif not implicit_int8:  # the Q/DQ graph wins over a table on the GPU
            assert plan.graph == graphs.int8_qdq and plan.calibration_table is None
        else:  # implicit INT8 (no Q/DQ graph, or DLA): FP32 graph + the table of exactly this release
            assert plan.graph == graphs.fp32
            assert plan.calibration_table == graphs.tables[v.release]


def test_the_three_jetpacks() -> None:
    """The concrete plans an integrator gets on JetPack 5.1, 6.x and 7.x for the default INT8."""
    plans = {jp.name: plan_build(jp.tensorrt, BuildOptions(), ALL) for jp in JETPACKS}
    assert [(p.api, p.graph, p.network_flags, p.builder_flags) for p in plans.values()] == [
        ("legacy", "step_int8.onnx", ("EXPLICIT_BATCH",), ("INT8", "FP16")),
        ("legacy", "step_int8.onnx", (), ("INT8", "FP16")),
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
    # DLA INT8 on 8.5: the FP32 graph with 8.5.2's table, FP16 beside INT8 (never the Q/DQ graph).
    assert legacy == [TRTEXEC, "--onnx=/opt/dms/model/step.onnx", f"--saveEngine={engine}", "--fp16", "--int8",
                      "--calib=/opt/dms/model/calibration_trt8.5.2.cache", "--useDLACore=0", "--allowGPUFallback",
                      "--memPoolSize=workspace:256", "--timingCacheFile=/var/t.cache"]
    qdq = trtexec_command(plan_build(TrtVersion(10, 3), BuildOptions(), ALL), model, engine)
    assert qdq == [TRTEXEC, "--onnx=/opt/dms/model/step_int8.onnx", f"--saveEngine={engine}", "--fp16", "--int8"]
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


def test_qdq_int8_on_the_legacy_path_sets_fp16_too() -> None:
    """Issue item 10(b): a Q/DQ engine on TensorRT 8.5 / 10.3 also sets FP16, so the layers
    the graph leaves unquantized run in FP16, not FP32 (NVIDIA/TensorRT#2086)."""
    for version in (TrtVersion(8, 5, 2), TrtVersion(10, 3, 0)):
        plan = plan_build(version, BuildOptions(precision="int8"), ALL)
        assert plan.graph == "step_int8.onnx" and plan.builder_flags == ("INT8", "FP16")
        cmd = trtexec_command(plan, Path("/m"), Path("/e.engine"))
        assert "--fp16" in cmd and "--int8" in cmd and not any(c.startswith("--calib") for c in cmd)
    # GPU implicit INT8 (no Q/DQ graph) is unchanged: INT8 with the table.
    tables_only = ModelGraphs("step.onnx", None, None, ALL.tables)
    assert plan_build(TrtVersion(10, 3), BuildOptions(), tables_only).builder_flags == ("INT8",)


@pytest.mark.parametrize("version", ["8.5.2.2", "10.3.0.30"])
def test_dla_int8_builds_the_fp32_graph_with_that_releases_table(version: str) -> None:
    """Issue item 7: DLA before TensorRT 11 runs implicit quantization only, so even with a
    Q/DQ graph in the folder the DLA engine is the FP32 graph + the table for this release,
    INT8 and FP16 (layers without a scale stay on the DLA), GPU fallback."""
    v = TrtVersion.parse(version)
    plan = plan_build(v, BuildOptions(precision="int8", dla_core=1), ALL)
    assert plan.graph == "step.onnx" and plan.calibration_table == f"calibration_trt{v.release}.cache"
    assert plan.builder_flags == ("INT8", "FP16", "GPU_FALLBACK") and plan.dla_core == 1
    assert any("Q/DQ graph is not used" in n for n in plan.notes)
    # No table for this release: refused on one line, saying what to do.
    qdq_only = ModelGraphs("step.onnx", "step_fp16.onnx", "step_int8.onnx", {"9.9.9": "calibration_trt9.9.9.cache"})
    with pytest.raises(PlanError) as err:
        plan_build(v, BuildOptions(precision="int8", dla_core=0), qdq_only)
    msg = str(err.value)
    assert "\n" not in msg and f"written for {v.release}" in msg and "dms calibrate" in msg
    assert "--precision fp16 with --dla" in msg
    # ...while the GPU build of the same folder still takes its Q/DQ graph.
    assert plan_build(v, BuildOptions(precision="int8"), qdq_only).graph == "step_int8.onnx"


@pytest.mark.parametrize("version, why", [
    ("10.8.0", "10.7 was the last 10.x release with DLA"),
    ("10.13.3.9", "Jetson Thor, which has none"),      # JetPack 7.0/7.1
    ("11.0.0", "none in 11.0 to 11.3"),
    ("11.3.1", "none in 11.0 to 11.3"),
    ("11.4.0", "11.4.0 only on Windows on ARM"),
])
@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_dla_is_refused_on_releases_without_it(version: str, why: str, precision: str) -> None:
    v = TrtVersion.parse(version)
    assert dla_unavailable(v) is not None
    with pytest.raises(PlanError) as err:
        plan_build(v, BuildOptions(precision=precision, dla_core=0), ALL)  # type: ignore[arg-type]
    msg = str(err.value)
    assert msg.startswith(f"--dla 0: TensorRT {v.release} has no DLA") and why in msg
    assert "drop --dla" in msg and "\n" not in msg
    plan_build(v, BuildOptions(precision=precision), ALL)  # the GPU build is fine


def test_dla_where_the_release_has_it() -> None:
    for version in ("8.5.2", "10.3.0", "10.7.0", "11.4.1", "11.5.0"):
        assert dla_unavailable(TrtVersion.parse(version)) is None
    # TensorRT 11.4.1+ (JetPack 7.2.2+, AGX Orin): strongly typed DLA, precision from the graph.
    plan = plan_build(TrtVersion(11, 4, 1), BuildOptions(precision="int8", dla_core=0), ALL)
    assert (plan.api, plan.graph, plan.builder_flags) == ("strongly-typed", "step_int8.onnx", ("GPU_FALLBACK",))
    assert any("strongly typed" in n and "Thor has no DLA" in n for n in plan.notes)
    fp16 = plan_build(TrtVersion(11, 4, 1), BuildOptions(precision="fp16", dla_core=0), ALL)
    assert fp16.graph == "step_fp16.onnx" and fp16.builder_flags == ("GPU_FALLBACK",)
