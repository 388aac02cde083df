"""environment.yml (conda users) and requirements.lock (make) must pin the same versions."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch", "faiss-gpu": "faiss-cpu"}  # same project, other build


def norm(name: str) -> str:
    return name.lower().replace("_", "-")


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[norm(name)] = version
    return pins


def env_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for p in dep["pip"]:
                if "==" in p:
                    name, version = p.split("==")
                    pins[norm(name)] = version
        elif "=" in dep and not dep.startswith("python="):
            name, version = dep.split("=")[:2]
            pins[norm(CONDA_TO_PIP.get(name, name))] = version
    return pins


def test_every_lock_line_is_an_exact_pin():
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert line.count("==") == 1, f"requirements.lock: not an exact pin: {line!r}"


def test_environment_and_lock_agree():
    lock, env = lock_pins(), env_pins()
    assert env, "environment.yml pins nothing"
    missing = sorted(set(env) - set(lock))
    assert not missing, f"pinned in environment.yml but not in requirements.lock: {missing}"
    diff = {k: (env[k], lock[k]) for k in env if env[k] != lock[k]}
    assert not diff, f"environment.yml vs requirements.lock versions differ: {diff}"


def test_design_card_packages_are_pinned():
    lock = lock_pins()
    for pkg in ["torch", "torchvision", "open-clip-torch", "transformers", "faiss-cpu", "lightgbm",
                "catboost", "seaborn", "jupyterlab", "papermill", "nbval", "dvc"]:
        assert pkg in lock, f"{pkg} is not pinned in requirements.lock"


def test_environment_ends_with_editable_install():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["dependencies"][-1]["pip"][-1] == "-e ."
