"""Configs: profiles, validation that names the field, overrides, and the no-torch promise."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from runtime import attention_config as ac
from runtime.attention_config import AttentionConfig, ConfigError, LongDistractionConfig, profile

ROOT = Path(__file__).resolve().parents[2]


def test_default_profile_is_euro_ncap_numbers():
    c = AttentionConfig()
    assert c.profile == "euro_ncap"
    assert (c.long_distraction.warning_s, c.long_distraction.prewarning_s) == (3.0, None)
    assert (c.vats.budget_s, c.vats.window_s, c.vats.reset_on_road_s) == (10.0, 30.0, 2.0)
    assert (c.unresponsive.after_warning_s, c.unresponsive.away_s) == (3.0, 6.0)
    assert c.availability.unavailable_after_s < 10.0   # Euro NCAP: say so within 10 s
    assert (c.zones.road_yaw_deg, c.zones.road_pitch_down_deg) == (23.0, 18.0)  # openpilot


@pytest.mark.parametrize("name", sorted(ac.PROFILES))
def test_every_profile_is_valid(name):
    assert profile(name).profile == name


def test_eu_addw_warning_times_by_speed():
    ld = profile("eu_addw").long_distraction
    assert [ld.warning_at(v) for v in (25.0, 49.9, 50.0, 120.0)] == [6.0, 6.0, 3.5, 3.5]


def test_every_default_carries_its_source():
    """Each threshold field has a comment right above it that names a source or says engineering."""
    src = (ROOT / "runtime" / "attention_config.py").read_text().splitlines()
    sources = ("Euro NCAP", "ADDW", "NHTSA", "openpilot", "Kia", "Soukupova", "Dinges", "Caffier", "Engineering",
               "engineering", "Installation", "Off by default", "Speed-dependent", "hand drive", "Mulhall")
    for cls in (ac.ZoneConfig, ac.NeutralConfig, ac.SpeedGateConfig, ac.GlanceConfig, ac.LongDistractionConfig,
                ac.VatsConfig, ac.UnresponsiveConfig, ac.AvailabilityConfig, ac.DrowsinessConfig):
        for f in dataclasses.fields(cls):
            if f.name in ("enabled", "zones"):
                continue
            line = next(i for i, ln in enumerate(src) if re.match(rf"\s+{f.name}: ", ln))
            block = []
            for ln in reversed(src[:line]):          # the comment block above the field(s)
                if not ln.strip().startswith("#") and not re.match(r"\s+\w+: ", ln):
                    break
                block.append(ln)
            assert any(s in "".join(block) for s in sources), f"{cls.__name__}.{f.name} has no documented source"


@pytest.mark.parametrize("overrides, message", [
    ({"long_distraction": {"warning_s": -1}}, "long_distraction.warning_s: must be > 0"),
    ({"long_distraction": {"prewarning_s": 5.0}}, "long_distraction.prewarning_s: must be shorter"),
    ({"vats": {"budget_s": 40.0}}, "vats.budget_s: must not exceed window_s"),
    ({"vats": {"windw_s": 40.0}}, "vats.windw_s: unknown field"),
    ({"zones": {"driver_side": "centre"}}, "zones.driver_side: must be 'left' or 'right'"),
    ({"speed_gate": {"min_speed_kmh": "fast"}}, "speed_gate.min_speed_kmh: expected a number"),
    ({"glance": {"return_confirm_s": 3.0}}, "vats.reset_on_road_s: must be >= glance.return_confirm_s"),
    ({"drowsiness": {"ear_open": 0.1}}, "drowsiness.ear_open: must be >= ear_closed"),
    ({"vats": 3}, "vats: expected an object"),
    ({"long_distraction": {"onset_backdate_s": -0.1}}, "long_distraction.onset_backdate_s: must be >= 0"),
    ({"long_distraction": {"onset_speed_deg_s": 0}}, "long_distraction.onset_speed_deg_s: must be > 0"),
    ({"glance": {"face_lost_far_margin_deg": -1}}, "glance.face_lost_far_margin_deg: must be >= 0"),
    ({"neutral": {"gate_roll_deg": 0}}, "neutral.gate_roll_deg: must be > 0"),
    ({"drowsiness": {"nod_bottom_fraction": 1.5}}, "drowsiness.nod_bottom_fraction: must be <= 1"),
    ({"drowsiness": {"nod_max_side_deg": 100}}, "drowsiness.nod_max_side_deg: must be <= 90"),
])
def test_bad_values_name_the_field(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        AttentionConfig.from_dict(overrides)


def test_overrides_keep_the_rest_of_the_base_profile():
    c = AttentionConfig.from_dict({"long_distraction": {"warning_s_by_speed": [[0, 4.0], [80, 2.5]]}},
                                  base=profile("kia"))
    assert c.profile == "kia" and c.long_distraction.warning_at(100) == 2.5
    assert c.vats == profile("kia").vats
    assert AttentionConfig.from_dict(AttentionConfig().to_dict()) == AttentionConfig()
    with pytest.raises(ConfigError, match="long_distraction.prewarning_s"):
        LongDistractionConfig(prewarning_s=0.0).validate()


def test_runtime_attention_modules_never_import_torch():
    code = ("import sys; import runtime.attention, runtime.events, runtime.speed, runtime.zones, "
            "runtime.drowsiness, runtime.attention_config; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
