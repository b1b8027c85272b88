import subprocess
import sys
import textwrap


def test_calibration_runs_without_torch(tiny_model_dir, tiny_synth, tmp_path):
    """The whole calibration path, in a fresh interpreter where importing torch fails."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    code = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None          # any `import torch` now raises ImportError
        from calibration.pipeline import CalibrationConfig, calibrate
        from calibration.quantize import QuantConfig
        from calibration.sources import SelectionConfig
        cfg = CalibrationConfig(quant=QuantConfig(method="minmax"), selection=SelectionConfig(frames=8),
                                latency_steps=3, report_seconds=0.5)
        calibrate({str(model)!r}, {str(tiny_synth)!r}, cfg)
        import calibration.cli, calibration.report, calibration.preprocess
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("ok")


def test_the_command_module_imports_nothing_heavy():
    """`dms` builds every subcommand's parser at start-up, on a Jetson too."""
    code = ("import sys, argparse, calibration.cli as c; c.add_arguments(argparse.ArgumentParser()); "
            "print(sorted(m for m in ('torch', 'cv2', 'onnx', 'onnxruntime', 'numpy') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "[]"
