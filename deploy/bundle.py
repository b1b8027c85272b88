"""`dms bundle`: one tar.gz an integrator copies to a Jetson and installs with one command.

    dms-bundle/
      install.sh            verifies SHA256SUMS, installs venv + model + config + units, builds the engine
      DEPLOY.md             the short deployment guide
      BUNDLE.json           what is inside: model, precision, targets (JetPack -> build plan), files
      SHA256SUMS            sha256 of every other file, in `sha256sum --check` format
      model/                the model folder: manifest.json, the fp32 / fp16 / int8 ONNX graphs,
                            calibration tables and reports (every file the manifest lists)
      wheels/dms-*.whl      this package (pip installs it into the venv)
      config/dms.json       the deploy configuration (-> /etc/dms/dms.json)
      systemd/dms.service, systemd/dms-engine.service

No engine inside: an engine is only valid on the TensorRT release and GPU that built it,
so the target builds its own (install.sh, then dms-engine.service on every boot when stale).

SHA256SUMS catches corruption and tampering with any file but itself; verify the tarball's
own sha256 (printed by `dms bundle`) out of band, or sign it, to cover that too.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from deploy.model_graphs import model_graphs
from deploy.service import (ENGINE_UNIT, SERVICE_UNIT, ServiceConfig, deploy_config, exec_line,
                            render_engine_unit, render_service_unit, run_command)
from deploy.trt_plan import JETPACKS, BuildOptions, ModelGraphs, PlanError, plan_build
from dms import __version__
from dms.manifest import MANIFEST_NAME, load_manifest, sha256_file

BUNDLE_FORMAT = "dms-bundle"
BUNDLE_FORMAT_VERSION = 1
TOP = "dms-bundle"
SUMS = "SHA256SUMS"
BUNDLE_JSON = "BUNDLE.json"
EXECUTABLES = frozenset({"install.sh"})


class BundleError(ValueError):
    """A bundle that cannot be made, or one that fails verification; names the file."""


@dataclass
class BundleResult:
    path: Path
    sha256: str
    files: dict[str, str]                  # bundle path -> sha256
    targets: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- the wheel

def project_root() -> Path | None:
    """The source checkout this package runs from (None when installed from a wheel)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


def build_wheel(root: Path, out_dir: Path) -> Path:
    """`pip wheel --no-deps --no-build-isolation --no-index` of a clean copy of the source
    (a stale build/ folder in the checkout would otherwise leak deleted modules into the
    wheel); offline, with the setuptools of this Python."""
    with tempfile.TemporaryDirectory(prefix="dms-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(root / name, src / name)
        for pkg in sorted(p for p in root.iterdir() if (p / "__init__.py").is_file() and p.name != "tests"):
            shutil.copytree(pkg, src / pkg.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        out_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
               "--disable-pip-version-check", "-q", "-w", str(out_dir), str(src)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BundleError(f"building the dms wheel failed ({shlex.join(cmd)}):\n{proc.stderr[-2000:]}\n"
                              "build it yourself (python -m build --wheel) and pass --wheel FILE")
    wheels = sorted(out_dir.glob("dms-*.whl"))
    if len(wheels) != 1:
        raise BundleError(f"{out_dir}: expected one dms wheel after the build, found {len(wheels)}")
    return wheels[0]


# ---------------------------------------------------------------- rendering

def _render(template: str, values: dict[str, str], name: str) -> str:
    text = template
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    if "@@" in text:
        start = text.index("@@")
        raise BundleError(f"template {name}: unfilled placeholder near {text[start:start + 30]!r}")
    return text


def _template(name: str) -> str:
    # resources.files() is Python 3.9+ (JetPack 5.1 runs 3.8): the templates sit beside this module
    files = getattr(resources, "files", None)
    if files is None:
        return (Path(__file__).resolve().parent / "templates" / name).read_text()
    text: str = (files("deploy") / "templates" / name).read_text()
    return text


def target_plans(graphs: ModelGraphs, cfg: ServiceConfig) -> list[dict[str, Any]]:
    """For each JetPack we support: the build plan for the configured precision, or why none."""
    out: list[dict[str, Any]] = []
    options = BuildOptions(precision=cfg.precision, dla_core=cfg.dla_core)
    for jp in JETPACKS:
        entry: dict[str, Any] = {"jetpack": jp.name, "tensorrt": jp.tensorrt.release, "cuda": jp.cuda}
        try:
            plan = plan_build(jp.tensorrt, options, graphs)
        except PlanError as exc:
            entry["error"] = str(exc)
        else:
            entry.update(api=plan.api, graph=plan.graph, network_flags=list(plan.network_flags),
                         builder_flags=list(plan.builder_flags), calibration_table=plan.calibration_table)
        out.append(entry)
    return out


def _install_script(cfg: ServiceConfig, model_name: str, wheel: str) -> str:
    lay = cfg.layout
    q = shlex.quote
    return _render(_template("install.sh"), {
        "DMS_VERSION": __version__, "MODEL_NAME": model_name.replace("\n", " "),
        "USER": q(cfg.user), "GROUPS": q(" ".join(cfg.groups)), "PREFIX": q(lay.prefix),
        "CONFIG_FILE": q(lay.config_file), "STATE_DIR": q(lay.state_dir), "ENGINE_DIR": q(lay.engine_dir),
        "EVENTS_DIR": q(lay.events_dir), "LOG_DIR": q(lay.log_dir), "PRECISION": q(cfg.precision),
        "DLA_CORE": q("" if cfg.dla_core is None else str(cfg.dla_core)), "WHEEL": q(wheel),
        "SERVICE_UNIT": q(SERVICE_UNIT), "ENGINE_UNIT": q(ENGINE_UNIT),
    }, "install.sh")


def _guide(cfg: ServiceConfig, model_name: str, created: str, targets: list[dict[str, Any]]) -> str:
    lay = cfg.layout
    rows = []
    for t in targets:
        how = (f"not supported: {t['error']}" if "error" in t else
               f"{t['api']} build from `{t['graph']}`" + (f" + flags {', '.join(t['builder_flags'])}"
                                                         if t["builder_flags"] else "")
               + (f" + table `{t['calibration_table']}`" if t["calibration_table"] else ""))
        rows.append(f"- {t['jetpack']} (TensorRT {t['tensorrt']}, CUDA {t['cuda']}): {how}")
    camera = cfg.camera
    cam = (f"custom pipeline `{camera.source}`" if camera.source else
           f"{camera.kind.upper()} sensor {camera.sensor_id if camera.kind == 'csi' else camera.device}, "
           f"{camera.width}x{camera.height} at {camera.fps} fps")
    return _render(_template("DEPLOY.md"), {
        "MODEL_NAME": model_name, "DMS_VERSION": __version__, "CREATED": created,
        "PRECISION": cfg.precision, "CAMERA": cam, "TARGETS": "\n".join(rows), "USER": cfg.user,
        "GROUPS": ", ".join(cfg.groups) or "none", "PREFIX": lay.prefix, "CONFIG_FILE": lay.config_file,
        "ENGINE_DIR": lay.engine_dir, "RUN": exec_line(run_command(cfg)), "WATCHDOG": str(cfg.watchdog_sec),
        "EVENTS_DIR": lay.events_dir, "LOG_DIR": lay.log_dir,
    }, "DEPLOY.md")


# ---------------------------------------------------------------- create

def _created() -> datetime:
    """SOURCE_DATE_EPOCH (reproducible builds) or now."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), timezone.utc)
    return datetime.now(timezone.utc).replace(microsecond=0)


def _check_name(rel: str) -> None:
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts or any(c.isspace() for c in rel) or not rel:
        raise BundleError(f"{rel!r}: bundle paths must be relative, without '..' or spaces")


# What a wheelhouse may hold: wheels, and source archives for what has no aarch64 wheel
# (pycuda: built on the device by install.sh).
WHEELHOUSE_SUFFIXES = (".whl", ".tar.gz", ".zip")


def wheelhouse_files(folder: Path) -> dict[str, bytes]:
    """wheels/<name> -> bytes for the dependency archives in `folder` (not its subfolders),
    so that `install.sh --offline` installs without a network. Errors name the folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BundleError(f"--wheelhouse {folder}: no such folder")
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(WHEELHOUSE_SUFFIXES))
    if not found:
        raise BundleError(f"--wheelhouse {folder}: no .whl / .tar.gz / .zip files (fill it with pip download: "
                          "docs/deploy.md, 'Offline install')")
    out = {}
    for p in found:
        rel = f"wheels/{p.name}"
        _check_name(rel)
        out[rel] = p.read_bytes()
    return out


def upload_config_file(path: Path) -> bytes:
    """The uploader's configuration to ship (config/upload.json -> /etc/dms/upload.json),
    checked now as a template: per-vehicle files (vehicle_id_file, password_file) are read
    on the vehicle, and no secret may be inside it."""
    from fleet.upload_config import UploadConfig, UploadConfigError

    try:
        data = json.loads(Path(path).read_text())
        UploadConfig.from_dict(data, str(path), resolve=False)
    except OSError as exc:
        raise BundleError(f"--upload {path}: cannot be read ({exc.strerror})") from None
    except (json.JSONDecodeError, UploadConfigError) as exc:
        raise BundleError(f"--upload {exc}") from None
    return (json.dumps(data, indent=2) + "\n").encode()


def create_bundle(model_dir: Path, out: Path, cfg: ServiceConfig | None = None, wheel: Path | None = None,
                  log: Callable[[str], None] = print, wheelhouse: Path | None = None,
                  upload: Path | None = None) -> BundleResult:
    """Write the bundle for MODEL_DIR to OUT (a .tar.gz). wheelhouse: a folder of the
    runtime's dependency wheels for the target (aarch64, its Python) to ship in wheels/.
    upload: the fleet uploader's configuration; the monitor then sends its alerts."""
    cfg = cfg or ServiceConfig()
    upload_json = upload_config_file(upload) if upload is not None else None
    if upload_json is not None:
        cfg = replace(cfg, upload=True)
    cfg.validate()
    model_dir = Path(model_dir)
    manifest = load_manifest(model_dir, verify_files=True)
    graphs = model_graphs(manifest, model_dir)
    targets = target_plans(graphs, cfg)
    if all("error" in t for t in targets):
        raise BundleError(f"{model_dir}: no supported JetPack can build a {cfg.precision} engine from it: "
                          + targets[-1]["error"])
    warnings = [f"{t['jetpack']}: {t['error']}" for t in targets if "error" in t]
    missing = [name for name, rel in (("fp16", graphs.fp16), ("int8 Q/DQ", graphs.int8_qdq)) if rel is None]
    if missing:
        warnings.append(f"the model has no {' and no '.join(missing)} graph (run `dms calibrate`); "
                        "the bundle carries what there is")
    model_name = str(manifest.model.get("name", model_dir.name))
    created = _created()
    stamp = created.isoformat()

    files: dict[str, bytes] = {}
    for rel in [MANIFEST_NAME, *sorted(manifest.files)]:
        _check_name(rel)
        files[f"model/{rel}"] = (model_dir / rel).read_bytes()
    with tempfile.TemporaryDirectory(prefix="dms-bundle-") as tmp:
        if wheel is None:
            root = project_root()
            if root is None:
                raise BundleError("dms is not running from a source checkout: pass --wheel FILE "
                                  "(python -m build --wheel in the repository)")
            log("building the dms wheel (offline, no dependencies)")
            wheel = build_wheel(root, Path(tmp))
        if not Path(wheel).is_file() or not Path(wheel).name.endswith(".whl"):
            raise BundleError(f"{wheel}: not a wheel file")
        wheel_rel = f"wheels/{Path(wheel).name}"
        files[wheel_rel] = Path(wheel).read_bytes()
    if wheelhouse is not None:
        deps = wheelhouse_files(wheelhouse)
        deps.pop(wheel_rel, None)
        files.update(deps)
        log(f"shipping {len(deps)} dependency archive(s) from {wheelhouse} for install.sh --offline")
    bundle_meta = {"dms_version": __version__, "model": model_name, "created": stamp,
                   "precision": cfg.precision, "dla_core": cfg.dla_core}
    files["config/dms.json"] = (json.dumps(deploy_config(cfg, bundle_meta), indent=2) + "\n").encode()
    if upload_json is not None:
        files["config/upload.json"] = upload_json
    files[f"systemd/{SERVICE_UNIT}"] = render_service_unit(cfg, __version__).encode()
    files[f"systemd/{ENGINE_UNIT}"] = render_engine_unit(cfg, __version__).encode()
    files["install.sh"] = _install_script(cfg, model_name, wheel_rel).encode()
    files["DEPLOY.md"] = _guide(cfg, model_name, stamp, targets).encode()

    digests = {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()}
    info = {"format": BUNDLE_FORMAT, "format_version": BUNDLE_FORMAT_VERSION, **bundle_meta,
            "model_manifest_sha256": digests[f"model/{MANIFEST_NAME}"], "targets": targets,
            "files": {rel: {"sha256": digests[rel], "bytes": len(data)} for rel, data in sorted(files.items())}}
    files[BUNDLE_JSON] = (json.dumps(info, indent=2) + "\n").encode()
    digests[BUNDLE_JSON] = hashlib.sha256(files[BUNDLE_JSON]).hexdigest()
    files[SUMS] = "".join(f"{digests[rel]}  {rel}\n" for rel in sorted(digests)).encode()

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_tar(out, files, int(created.timestamp()))
    return BundleResult(out, sha256_file(out), {rel: digests[rel] for rel in sorted(digests)}, targets, warnings)


def _write_tar(out: Path, files: dict[str, bytes], mtime: int) -> None:
    """A deterministic tar.gz (sorted, root-owned, fixed modes and times), written atomically."""
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=mtime) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(PurePosixPath(TOP, rel).parent) for rel in files} | {TOP})
        expanded: set[str] = set()
        for d in dirs:
            parts = PurePosixPath(d).parts
            expanded.update(str(PurePosixPath(*parts[:i])) for i in range(1, len(parts) + 1))
        for d in sorted(expanded):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, mtime
            tar.addfile(ti)
        for rel in sorted(files):
            ti = tarfile.TarInfo(f"{TOP}/{rel}")
            ti.size, ti.mtime = len(files[rel]), mtime
            ti.mode = 0o755 if rel in EXECUTABLES else 0o644
            tar.addfile(ti, io.BytesIO(files[rel]))
    tmp.replace(out)


# ---------------------------------------------------------------- verify

def parse_sums(text: str, source: str) -> dict[str, str]:
    """`<sha256>  <path>` lines (sha256sum's format; '*' binary marker accepted)."""
    out: dict[str, str] = {}
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        digest, rel = line[:64], line[66:] if len(line) > 66 else ""
        if len(line) < 67 or line[64] != " " or line[65] not in " *" or \
                any(c not in "0123456789abcdef" for c in digest):
            raise BundleError(f"{source}: line {i}: expected '<sha256>  <path>', got {line!r}")
        _check_name(rel)
        if rel in out:
            raise BundleError(f"{source}: line {i}: {rel} listed twice")
        out[rel] = digest
    return out


def verify_bundle_dir(root: Path) -> dict[str, Any]:
    """Check an unpacked bundle the way install.sh does; returns BUNDLE.json's content.
    BundleError names the first file that is missing, altered, unlisted or a link."""
    root = Path(root)
    sums_path = root / SUMS
    if not sums_path.is_file():
        raise BundleError(f"{sums_path}: missing (not a dms bundle, or an incomplete copy)")
    listed = parse_sums(sums_path.read_text(), str(sums_path))
    present = set()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise BundleError(f"{path}: a symbolic link; bundles never contain links")
        if path.is_file() and rel != SUMS:
            present.add(rel)
    for rel in sorted(present - set(listed)):
        raise BundleError(f"{root / rel}: not listed in {SUMS} (the bundle was altered)")
    for rel, digest in listed.items():
        path = root / rel
        if not path.is_file():
            raise BundleError(f"{path}: listed in {SUMS} but missing")
        actual = sha256_file(path)
        if actual != digest:
            raise BundleError(f"{path}: sha256 {actual[:12]}... does not match {SUMS}'s {digest[:12]}... "
                              "(the bundle is corrupt or was altered)")
    if BUNDLE_JSON not in listed:
        raise BundleError(f"{root / BUNDLE_JSON}: missing from {SUMS}")
    info: dict[str, Any] = json.loads((root / BUNDLE_JSON).read_text())
    if info.get("format") != BUNDLE_FORMAT or info.get("format_version") != BUNDLE_FORMAT_VERSION:
        raise BundleError(f"{root / BUNDLE_JSON}: field 'format': not a {BUNDLE_FORMAT} v{BUNDLE_FORMAT_VERSION}")
    return info


def unpack(archive: Path, dest: Path) -> Path:
    """Extract a bundle tar.gz safely (regular files and folders only, no absolute or '..'
    paths) into DEST; returns the bundle folder."""
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            name = PurePosixPath(member.name)
            if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()):
                raise BundleError(f"{archive}: member {member.name!r} is not a plain file or folder inside "
                                  "the bundle (refusing to extract)")
        if sys.version_info >= (3, 12) or hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover - Python without the extraction filters
            tar.extractall(dest)  # noqa: S202 (members checked above)
    top = Path(dest) / TOP
    if not top.is_dir():
        raise BundleError(f"{archive}: no {TOP}/ folder inside")
    return top


def verify_bundle(path: Path) -> dict[str, Any]:
    """Verify a bundle folder or .tar.gz (unpacked to a temporary folder)."""
    path = Path(path)
    if path.is_dir():
        return verify_bundle_dir(path)
    with tempfile.TemporaryDirectory(prefix="dms-verify-") as tmp:
        return verify_bundle_dir(unpack(path, Path(tmp)))
