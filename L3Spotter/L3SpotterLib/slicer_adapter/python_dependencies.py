"""Which Python packages detection needs, at which versions, and which of them this Python lacks.

Used by the Slicer module, whose Python is shared with every other extension: a torch or torchvision
another extension installed may be present but too old, and presence alone would let it through.
Versions are read from the installed distributions' metadata (nothing is imported, so torch is not loaded
just to be checked) and compared with ``packaging``'s requirement rules.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass

# Import name -> requirement (distribution name and versions); the same floors as pyproject.toml.
# torchvision is not needed: the shipped backbone is built from torch alone (L3SpotterLib/mobilenet.py).
TORCH_REQUIREMENTS = {"torch": "torch>=2.2"}
PIP_REQUIREMENTS = {
    "scipy": "scipy>=1.11",
    "SimpleITK": "SimpleITK>=2.3",
    "PIL": "Pillow>=10.1",  # the QC picture (10.1: scalable default font)
    "nibabel": "nibabel>=5.2",
}
# What adapting a model to a site's scans (training.adapt, in its own process) needs beyond detection.
ADAPTATION_REQUIREMENTS = {"tqdm": "tqdm>=4.60"}
# Needed to compare versions at all; a small pure-Python package that pip installs like the others.
PACKAGING_REQUIREMENT = "packaging>=23.0"


@dataclass(frozen=True)
class DependencyProblem:
    """A package that is missing (``installed_version`` None) or older than ``requirement``."""

    import_name: str
    requirement: str
    installed_version: str | None

    def describe(self) -> str:
        if self.installed_version is None:
            return f"{self.import_name} (not installed; needs {self.requirement})"
        return f"{self.import_name} {self.installed_version} (needs {self.requirement})"


def is_importable(import_name: str) -> bool:
    return importlib.util.find_spec(import_name) is not None


def installed_version(distribution_name: str) -> str | None:
    """The installed version of a distribution, from its metadata; None when it has none."""
    try:
        return importlib.metadata.version(distribution_name)
    except importlib.metadata.PackageNotFoundError:
        return None


def dependency_problems(requirements: dict[str, str]) -> list[DependencyProblem]:
    """The packages of ``requirements`` (import name -> requirement) that are missing or too old.

    A package importable without metadata (as Slicer's own SimpleITK may be) cannot be version-checked
    and is taken as it is: installing over it could break Slicer.
    """
    if not is_importable("packaging"):
        packaging_problem = DependencyProblem("packaging", PACKAGING_REQUIREMENT, None)
        missing = [DependencyProblem(name, requirement, None) for name, requirement in requirements.items() if not is_importable(name)]
        return [packaging_problem] + missing
    from packaging.requirements import Requirement

    problems = []
    for import_name, requirement_text in requirements.items():
        requirement = Requirement(requirement_text)
        if not is_importable(import_name):
            problems.append(DependencyProblem(import_name, requirement_text, None))
            continue
        version = installed_version(requirement.name)
        if version is not None and not requirement.specifier.contains(version, prereleases=True):
            problems.append(DependencyProblem(import_name, requirement_text, version))
    return problems


def public_version(version: str) -> str:
    """``2.3.1`` of ``2.3.1+cu121``: what a requirement on PyPI's distributions can name."""
    from packaging.version import Version

    return Version(version).public
