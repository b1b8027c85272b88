"""Model configuration: every size that shapes a network, with its default and its source.

Kept free of torch so that manifests, the CLI and the runtime can read a model's config
without importing it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

Backbone = Literal["edge", "vgg16"]
Head = Literal["pose", "landmarks", "joint"]
Cell = Literal["none", "fc", "gru", "lstm"]
PoseFrame = Literal["ray", "camera"]

BACKBONES: tuple[str, ...] = ("edge", "vgg16")
HEADS: tuple[str, ...] = ("pose", "landmarks", "joint")
CELLS: tuple[str, ...] = ("none", "fc", "gru", "lstm")
POSE_FRAMES: tuple[str, ...] = ("ray", "camera")

POSE_OUTPUTS = 3         # pitch, yaw, roll (dms.angles)
LANDMARK_OUTPUTS = 136   # 68 iBUG points x (x, y), dms.landmarks

# The patent's VGG16 conv groups (channels per group, convs per group), a 2x2 max pool
# after each group (Simonyan & Zisserman 2015, configuration D).
VGG16_CHANNELS = (64, 128, 256, 512, 512)
VGG16_CONVS = (2, 2, 3, 3, 3)


class ConfigError(ValueError):
    """A model config with an unknown key or a value out of range."""


@dataclass(frozen=True)
class ModelConfig:
    """What a network is made of. Defaults are the `edge` model for Jetson and CPU.

    backbone: "edge" (small CNN, <= 100 MFLOPs at its default input) or "vgg16" (the
        patent's network, kept for fidelity and comparison).
    in_channels: 1 = near-infrared monochrome, what in-car DMS cameras deliver (active
        IR illumination works at night and through sunglasses); 3 = RGB.
    input_size: (height, width) of the face crop. 64x64 for edge: head pose needs the
        face's layout, not skin texture, and the per-frame step must run in <= 1 ms on CPU.
        224x224 for vgg16 (the patent's ImageNet-pretrained input).
    fc_sizes: the fully connected layers that become recurrent (eq. 5). The patent uses
        4096-4096; edge uses 256-256, enough for a 3-value output at 1/4000 of the cost.
    head: "pose" (3), "landmarks" (136) or "joint" (both from one trunk, FIG. 2F).
    cell: "none" = per-frame network (stage 1); "fc" = the patent's FC-RNN (eq. 5);
        "gru" / "lstm" = the alternative cells, for ablation.
    dropout: 0.25, the patent's variational-dropout rate (one mask per sequence).
    edge_channels / edge_convs: channels and 3x3 convs per group of the edge CNN.
    pixel_mean / pixel_scale: the network's input is (pixel / 255 - pixel_mean) *
        pixel_scale, the same for every channel; 0.5 and 2.0 map 8-bit pixels to [-1, 1].
        Export copies them into the manifest's preprocess block, which the runtime applies.
    pose_frame: what the pose output is relative to. "ray" (default): the viewing ray
        through the crop centre, the only pose a crop can show (dms.perspective); the
        runtime turns it into the camera-relative pose with the crop centre and the camera
        intrinsics. "camera": the camera directly (off-axis heads then carry a bias of
        several degrees that the network cannot see).
    """

    backbone: Backbone = "edge"
    in_channels: int = 1
    input_size: tuple[int, int] = (64, 64)
    fc_sizes: tuple[int, ...] = (256, 256)
    head: Head = "pose"
    cell: Cell = "none"
    dropout: float = 0.25
    edge_channels: tuple[int, ...] = (16, 32, 64, 128)
    edge_convs: tuple[int, ...] = (1, 1, 2, 2)
    pixel_mean: float = 0.5
    pixel_scale: float = 2.0
    pose_frame: PoseFrame = "ray"

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ConfigError(f"backbone: '{self.backbone}' is not one of {BACKBONES}")
        if self.head not in HEADS:
            raise ConfigError(f"head: '{self.head}' is not one of {HEADS}")
        if self.cell not in CELLS:
            raise ConfigError(f"cell: '{self.cell}' is not one of {CELLS}")
        if self.pose_frame not in POSE_FRAMES:
            raise ConfigError(f"pose_frame: '{self.pose_frame}' is not one of {POSE_FRAMES}")
        if self.in_channels not in (1, 3):
            raise ConfigError(f"in_channels: must be 1 (IR/gray) or 3 (RGB), got {self.in_channels}")
        if len(self.input_size) != 2 or min(self.input_size) < 1:
            raise ConfigError(f"input_size: needs (height, width) > 0, got {self.input_size}")
        n_pools = len(VGG16_CHANNELS) if self.backbone == "vgg16" else len(self.edge_channels)
        if min(self.input_size) < 2 ** n_pools:
            raise ConfigError(
                f"input_size: {self.input_size} is smaller than {2 ** n_pools} px, the "
                f"{self.backbone} backbone's total downsampling")
        if not self.fc_sizes or min(self.fc_sizes) < 1:
            raise ConfigError(f"fc_sizes: needs at least one positive size, got {self.fc_sizes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout: must be in [0, 1), got {self.dropout}")
        if self.pixel_scale <= 0:
            raise ConfigError(f"pixel_scale: must be > 0, got {self.pixel_scale}")
        if len(self.edge_channels) != len(self.edge_convs) or min(self.edge_convs) < 1:
            raise ConfigError(
                f"edge_convs: needs one count >= 1 per group in edge_channels "
                f"{self.edge_channels}, got {self.edge_convs}")

    @classmethod
    def for_backbone(cls, backbone: str, **overrides: Any) -> ModelConfig:
        """The documented default config of a backbone, with optional overrides."""
        base: dict[str, Any] = {"backbone": backbone}
        if backbone == "vgg16":
            base.update(in_channels=3, input_size=(224, 224), fc_sizes=(4096, 4096))
        base.update(overrides)
        return cls(**base)

    @property
    def recurrent(self) -> bool:
        return self.cell != "none"

    @property
    def outputs(self) -> dict[str, int]:
        """Output name -> width, in the order the step graph returns them."""
        out: dict[str, int] = {}
        if self.head in ("pose", "joint"):
            out["pose"] = POSE_OUTPUTS
        if self.head in ("landmarks", "joint"):
            out["landmarks"] = LANDMARK_OUTPUTS
        return out

    def normalise(self, pixels: Any) -> Any:
        """8-bit pixels (numpy or torch) -> network input, per pixel_mean / pixel_scale."""
        return (pixels / 255.0 - self.pixel_mean) * self.pixel_scale

    def with_cell(self, cell: str) -> ModelConfig:
        return replace(self, cell=cell)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "model config") -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown key '{unknown[0]}' (known: {sorted(known)})")
        kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
