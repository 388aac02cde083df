"""environment.yml (conda, CUDA machines), requirements.lock (make) and requirements-cpu.lock
(CPU-only pip) must pin the same versions of every package they share, and the pip lock must not
force CUDA wheels on non-Linux users."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda name -> pip name of the same project (another build of it)
CONDA_TO_PIP = {"pytorch": "torch", "faiss-gpu": "faiss-cpu"}
# conda-only packages: no pip counterpart in the lock (checked separately below)
CONDA_ONLY = {"python", "pip", "cuda-version"}
CUDA_WHEEL = re.compile(r"^(nvidia-|cuda-|triton$)")   # the CUDA runtime wheels of torch's Linux wheel
LINUX = 'platform_system == "Linux"'


def norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def lock_lines(name: str = "requirements.lock") -> list[tuple[str, str, str]]:
    """(package, version, marker) of every pin line (comments and pip options skipped)."""
    out = []
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        spec, _, marker = line.partition(";")
        assert spec.count("==") == 1, f"{name}: not an exact pin: {line!r}"
        pkg, ver = spec.split("==")
        out.append((norm(pkg), ver.strip(), marker.strip()))
    return out


def lock_pins() -> dict[str, str]:
    return {p: v for p, v, _ in lock_lines()}


def env_deps():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for p in dep["pip"]:
                if "==" in p:
                    name, version = p.split("==")
                    assert norm(name) not in pip, f"environment.yml: {name} pinned twice"
                    pip[norm(name)] = version
        else:
            name, _, rest = dep.partition("=")
            conda[norm(name)] = rest          # "version" or "version=build"
    return conda, pip


def env_pins() -> dict[str, str]:
    """Every environment.yml pin under its pip name (conda build strings dropped)."""
    conda, pip = env_deps()
    pins = dict(pip)
    for name, spec in conda.items():
        if name not in CONDA_ONLY and spec:
            pins[CONDA_TO_PIP.get(name, name)] = spec.split("=")[0]
    return pins


def test_every_lock_line_is_an_exact_pin():
    for name in ("requirements.lock", "requirements-cpu.lock"):
        assert len(lock_lines(name)) > 100, f"{name} holds too few pins"


def test_environment_and_lock_agree_on_every_shared_package():
    lock, env = lock_pins(), env_pins()
    missing = sorted(set(env) - set(lock))
    assert not missing, f"pinned in environment.yml but not in requirements.lock: {missing}"
    diff = {k: (env[k], lock[k]) for k in env if env[k] != lock[k]}
    assert not diff, f"environment.yml vs requirements.lock versions differ: {diff}"


def test_environment_holds_every_lock_package_but_the_cuda_wheels():
    lock, env = lock_pins(), env_pins()
    absent = sorted(p for p in set(lock) - set(env) if not CUDA_WHEEL.match(p))
    assert not absent, f"in requirements.lock but not in environment.yml: {absent}"
    cuda_in_env = sorted(p for p in env_deps()[1] if CUDA_WHEEL.match(p))
    assert not cuda_in_env, f"environment.yml installs CUDA wheels by pip (conda's CUDA is used): {cuda_in_env}"


def test_environment_asks_for_cuda_builds_matching_the_lock():
    conda, pip = env_deps()
    assert conda["pytorch"].endswith("=cuda*"), "environment.yml: pytorch must pin a CUDA build (=cuda*)"
    assert conda["torchvision"].endswith("=cuda*"), "environment.yml: torchvision must pin a CUDA build"
    assert "faiss-gpu" in conda and "faiss-cpu" not in pip and "torch" not in pip
    cuda = lock_pins()["cuda-toolkit"]                       # the CUDA of the lock's torch wheel
    assert conda["cuda-version"] == ".".join(cuda.split(".")[:2]), \
        f"cuda-version {conda['cuda-version']} does not match the lock's cuda-toolkit {cuda}"


def test_lock_forces_no_cuda_wheels_off_linux():
    for pkg, ver, marker in lock_lines():
        if CUDA_WHEEL.match(pkg):
            assert marker == LINUX, f"requirements.lock: {pkg}=={ver} must carry `; {LINUX}`"
        else:
            assert marker == "", f"requirements.lock: unexpected marker on {pkg}: {marker!r}"


def test_cpu_lock_is_the_lock_with_cpu_torch_and_no_cuda_wheels():
    lock = {p: v for p, v, _ in lock_lines() if not CUDA_WHEEL.match(p)}
    cpu = lock_lines("requirements-cpu.lock")
    assert not [p for p, _, _ in cpu if CUDA_WHEEL.match(p)], "requirements-cpu.lock holds CUDA wheels"
    seen = {}
    for pkg, ver, marker in cpu:
        seen.setdefault(pkg, set()).add(ver.split("+")[0])
        if pkg in ("torch", "torchvision"):
            want = "+cpu" if "!=" in marker else ""
            assert ver == lock[pkg] + want, f"requirements-cpu.lock: {pkg}=={ver} ({marker})"
    assert set(seen) == set(lock), sorted(set(seen) ^ set(lock))
    diff = {p: (v, lock[p]) for p, v in seen.items() if v != {lock[p]}}
    assert not diff, f"requirements-cpu.lock vs requirements.lock versions differ: {diff}"


def test_design_card_packages_are_pinned():
    lock = lock_pins()
    for pkg in ["torch", "torchvision", "open-clip-torch", "transformers", "faiss-cpu", "lightgbm",
                "catboost", "seaborn", "jupyterlab", "papermill", "nbval", "dvc"]:
        assert pkg in lock, f"{pkg} is not pinned in requirements.lock"


def test_environment_ends_with_editable_install():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["dependencies"][-1]["pip"][-1] == "-e ."
