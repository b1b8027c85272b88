"""A stand-in for the `tensorrt` module, shaped like the real API of a given release, that
records the builder calls. It is strict where TensorRT is: 8.x parses ONNX only into an
EXPLICIT_BATCH network, TensorRT 11 has no FP16/INT8 builder flags (and STRONGLY_TYPED is
member 0 there), and a strongly typed network refuses precision flags.

Timing caches carry a header (release and device) as TensorRT's do: combine() refuses a
cache from another release, or from another device unless ignore_mismatch; a blob that is
not a cache makes create_timing_cache raise (or, with `bad_cache="none"`, return None,
the binding's nullptr).
"""

from __future__ import annotations

import enum
import json
import types
from pathlib import Path
from typing import Any


def _version_tuple(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


class FakeTensorRT(types.ModuleType):
    def __init__(self, version: str = "10.3.0.30", dla_cores: int = 0, build_ok: bool = True,
                 device: str = "Orin/16", bad_cache: str = "raise") -> None:
        super().__init__("tensorrt")
        self.__version__ = version
        self.calls: list[tuple[Any, ...]] = []
        major, minor = _version_tuple(version)
        self._dla_cores = dla_cores
        self._build_ok = build_ok
        self.device = device        # what a timing cache's header records of the GPU
        self.bad_cache = bad_cache  # "raise" or "none": create_timing_cache on garbage
        if major >= 11:
            self.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", {"STRONGLY_TYPED": 0})
            builder_flags = {"GPU_FALLBACK": 3, "REFIT": 4}
        else:
            members = {"EXPLICIT_BATCH": 0}
            if major >= 9:
                members["STRONGLY_TYPED"] = 1
            self.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", members)
            builder_flags = {"FP16": 0, "INT8": 1, "GPU_FALLBACK": 3, "REFIT": 4}
        self.BuilderFlag = enum.IntEnum("BuilderFlag", builder_flags)
        self.MemoryPoolType = enum.IntEnum("MemoryPoolType", {"WORKSPACE": 0})
        self.DeviceType = enum.IntEnum("DeviceType", {"GPU": 0, "DLA": 1})
        self.explicit_batch_required = major < 10
        fake = self

        class Logger:
            WARNING = 2

            def __init__(self, severity: int = 2) -> None:
                fake.calls.append(("Logger", severity))

        class IInt8EntropyCalibrator2:
            def __init__(self) -> None:
                fake.calls.append(("IInt8EntropyCalibrator2.__init__",))

        self.Logger = Logger
        self.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2
        self.Builder = lambda logger: _Builder(fake)
        self.OnnxParser = lambda network, logger: _Parser(fake, network)


class _Network:
    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.graph = b""


def timing_cache_blob(version: str, device: str, entries: list[str]) -> bytes:
    """A serialized fake timing cache: b'TC|release|device|entry,entry'."""
    release = ".".join(version.split(".")[:3])
    return f"TC|{release}|{device}|{','.join(entries)}".encode()


def parse_timing_cache(blob: bytes) -> tuple[str, str, list[str]]:
    _, release, device, entries = blob.decode().split("|", 3)
    return release, device, [e for e in entries.split(",") if e]


class _Cache:
    def __init__(self, release: str, device: str, entries: list[str]) -> None:
        self.release, self.device, self.entries = release, device, list(entries)

    def combine(self, other: _Cache, ignore_mismatch: bool) -> bool:
        if other.release != self.release or (other.device != self.device and not ignore_mismatch):
            return False
        self.entries += [e for e in other.entries if e not in self.entries]
        return True

    def serialize(self) -> bytes:
        return f"TC|{self.release}|{self.device}|{','.join(self.entries)}".encode()


class _Config:
    def __init__(self, fake: FakeTensorRT) -> None:
        self._fake = fake
        self.flags: list[str] = []
        self.pools: dict[str, int] = {}
        self.default_device_type = fake.DeviceType.GPU
        self.DLA_core = -1
        self.int8_calibrator: Any = None
        self.cache: _Cache | None = None

    def set_flag(self, flag: enum.IntEnum) -> None:
        self._fake.calls.append(("set_flag", flag.name))
        self.flags.append(flag.name)

    def set_memory_pool_limit(self, pool: enum.IntEnum, size: int) -> None:
        self._fake.calls.append(("set_memory_pool_limit", pool.name, size))
        self.pools[pool.name] = size

    def create_timing_cache(self, data: bytes) -> _Cache | None:
        fake = self._fake
        fake.calls.append(("create_timing_cache", bytes(data)))
        release = ".".join(fake.__version__.split(".")[:3])
        if not data:
            return _Cache(release, fake.device, [])
        if not bytes(data).startswith(b"TC|") or bytes(data).count(b"|") < 3:
            if fake.bad_cache == "none":
                return None
            raise RuntimeError("[TRT] Error: timing cache: invalid or corrupt serialized cache")
        return _Cache(*parse_timing_cache(bytes(data)))

    def set_timing_cache(self, cache: _Cache, ignore_mismatch: bool) -> bool:
        fake = self._fake
        fake.calls.append(("set_timing_cache", ignore_mismatch))
        release = ".".join(fake.__version__.split(".")[:3])
        if cache.release != release or (cache.device != fake.device and not ignore_mismatch):
            return False  # the verification header does not match this environment
        self.cache = cache
        return True

    def get_timing_cache(self) -> _Cache:
        assert self.cache is not None
        return self.cache


class _Parser:
    def __init__(self, fake: FakeTensorRT, network: _Network) -> None:
        self._fake = fake
        self._network = network
        self.errors: list[str] = []

    def parse_from_file(self, path: str) -> bool:
        self._fake.calls.append(("parse_from_file", Path(path).name))
        explicit = 1 << int(self._fake.NetworkDefinitionCreationFlag.EXPLICIT_BATCH) \
            if "EXPLICIT_BATCH" in self._fake.NetworkDefinitionCreationFlag.__members__ else 0
        if self._fake.explicit_batch_required and not self._network.flags & explicit:
            self.errors.append("ModelImporter: the network must have an explicit batch dimension")
            return False
        data = Path(path).read_bytes()
        if data.startswith(b"bad"):
            self.errors.append(f"{Path(path).name}: node 3 (Foo): unsupported operator")
            return False
        self._network.graph = data
        return True

    @property
    def num_errors(self) -> int:
        return len(self.errors)

    def get_error(self, i: int) -> str:
        return self.errors[i]


class _Builder:
    def __init__(self, fake: FakeTensorRT) -> None:
        self._fake = fake
        self.num_DLA_cores = fake._dla_cores

    def create_network(self, flags: int) -> _Network:
        self._fake.calls.append(("create_network", flags))
        return _Network(flags)

    def create_builder_config(self) -> _Config:
        return _Config(self._fake)

    def build_serialized_network(self, network: _Network, config: _Config) -> bytes | None:
        fake = self._fake
        members = fake.NetworkDefinitionCreationFlag.__members__
        strongly = "STRONGLY_TYPED" in members and bool(network.flags & (1 << int(members["STRONGLY_TYPED"])))
        if strongly and {"FP16", "INT8"} & set(config.flags):
            raise RuntimeError("API Usage Error: precision flags are not allowed on a strongly typed network")
        table = None
        if config.int8_calibrator is not None:
            assert config.int8_calibrator.get_batch(["image"]) is None  # no data: the cache is all there is
            table = bytes(config.int8_calibrator.read_calibration_cache()).decode()
        fake.calls.append(("build_serialized_network",))
        if not fake._build_ok:
            return None
        if config.cache is not None:  # the build times what the cache did not have
            config.cache.entries.append(f"timed:{network.graph.decode()}")
        record = {"graph": network.graph.decode(), "flags": config.flags, "network_flags": network.flags,
                  "pools": config.pools, "device": int(config.default_device_type), "dla_core": config.DLA_core,
                  "table": table}
        return b"FAKE-ENGINE " + json.dumps(record).encode()


def engine_record(data: bytes) -> dict[str, Any]:
    assert data.startswith(b"FAKE-ENGINE ")
    record: dict[str, Any] = json.loads(data[len(b"FAKE-ENGINE "):])
    return record
