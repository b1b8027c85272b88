"""A picture of a motion track: head pitch/yaw/roll (and gaze) over time on coloured bands
of the attention target, with eyes, mouth, occluders and speed below.

Why: a track is thousands of numbers; one look at this plot tells whether glances, their
labels and the head motion agree. Uses matplotlib's Agg canvas directly (no pyplot state),
so it works headless and from threads.

    python -m synth.motion_plot --demo demo_track.png
    python -m synth.motion_plot --seed 3 --duration 120 track.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from synth.motion import label_runs
from synth.track import ATTENTION_TARGETS, OCCLUDERS, MotionTrack

# One colour per attention target (road is left blank).
TARGET_COLOURS: dict[str, str] = {
    "road": "none",
    "left_mirror": "#9ecae1",
    "right_mirror": "#6baed6",
    "rear_mirror": "#c6dbef",
    "cluster": "#c7e9c0",
    "infotainment": "#fdae6b",
    "phone": "#fb6a4a",
    "left_shoulder": "#bcbddc",
    "right_shoulder": "#9e9ac8",
    "passenger": "#fdd0a2",
    "eyes_closed": "#969696",
    "other": "#e7cb94",
}


def plot_track(track: MotionTrack, path: str | Path, *, title: str | None = None,
               t_range: tuple[float, float] | None = None) -> Path:
    """Write a PNG of the track to `path` and return the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    t = track.times
    fps = track.fps
    fig = Figure(figsize=(14, 8), dpi=100)
    FigureCanvasAgg(fig)
    gs = fig.add_gridspec(3, 1, height_ratios=[3.0, 1.2, 1.0], hspace=0.08)
    ax_pose = fig.add_subplot(gs[0])
    ax_face = fig.add_subplot(gs[1], sharex=ax_pose)
    ax_speed = fig.add_subplot(gs[2], sharex=ax_pose)

    seen: set[str] = set()
    for a, b, name in label_runs(track):
        if name == "road":
            continue
        for ax in (ax_pose, ax_face):
            ax.axvspan(a / fps, b / fps, color=TARGET_COLOURS.get(name, "#dddddd"), alpha=0.6, lw=0)
        seen.add(name)

    pose = track.pose_vehicle
    for i, (name, colour) in enumerate((("pitch", "tab:blue"), ("yaw", "tab:red"), ("roll", "tab:green"))):
        ax_pose.plot(t, pose[:, i], color=colour, lw=1.2, label=f"head {name}")
    ax_pose.plot(t, track.gaze_vehicle[:, 0], color="tab:blue", lw=0.6, ls=":", label="gaze pitch")
    ax_pose.plot(t, track.gaze_vehicle[:, 1], color="tab:red", lw=0.6, ls=":", label="gaze yaw")
    ax_pose.set_ylabel("degrees (vehicle frame)")
    ax_pose.axhline(0.0, color="k", lw=0.5)
    ax_pose.grid(True, alpha=0.3)
    handles, _ = ax_pose.get_legend_handles_labels()
    handles += [Patch(color=TARGET_COLOURS[n], alpha=0.6, label=n) for n in ATTENTION_TARGETS if n in seen]
    ax_pose.legend(handles=handles, loc="upper right", fontsize=7, ncol=2)
    if title:
        ax_pose.set_title(title)

    ax_face.plot(t, track.eye_closure, color="k", lw=0.8, label="eye closure")
    ax_face.plot(t, track.mouth_open, color="tab:purple", lw=0.8, label="mouth open")
    occ = track.occluder
    for code in range(1, len(OCCLUDERS)):
        m = (occ == code).astype(np.int8)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], m, [0]])))
        for a, b in zip(edges[::2], edges[1::2]):
            ax_face.axvspan(a / fps, b / fps, ymin=0.9, ymax=1.0, color="tab:brown" if code == 1 else "tab:pink")
    ax_face.set_ylim(-0.05, 1.15)
    ax_face.set_ylabel("0..1")
    ax_face.legend(loc="upper right", fontsize=7)
    ax_face.grid(True, alpha=0.3)

    ax_speed.plot(t, track.speed_kmh, color="tab:gray", lw=1.0)
    ax_speed.set_ylabel("km/h")
    ax_speed.set_xlabel("time (s)")
    ax_speed.grid(True, alpha=0.3)
    if t_range is not None:
        ax_pose.set_xlim(*t_range)
    elif len(t):
        ax_pose.set_xlim(0.0, float(t[-1]))
    for ax in (ax_pose, ax_face):
        ax.tick_params(labelbottom=False)

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", bbox_inches="tight")
    return out


def main(argv: list[str] | None = None) -> int:
    from synth.motion import SubjectStyle, demo_script, generate_track, scripted_track

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="PNG to write")
    ap.add_argument("--demo", action="store_true", help="plot the demo script (owl driver) instead")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--duration", type=float, default=120.0, help="seconds (random track)")
    args = ap.parse_args(argv)
    if args.demo:
        track = scripted_track(demo_script(), subject_style=SubjectStyle.owl())
        title = "demo script"
    else:
        track = generate_track(args.seed, args.duration)
        title = f"generate_track(seed={args.seed}, duration_s={args.duration:g})"
    print(plot_track(track, args.out, title=title))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
