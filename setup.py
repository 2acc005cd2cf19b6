"""Build hook: ship the built-in scenarios inside the package.

Why: the scenarios live at the top of the checkout (``scenarios/``), where users,
docs and tests find them, but a wheel holds only packages. The build copies them to
``jobsim/scenarios/`` in the wheel, where ``scenario.runner.scenarios_dir`` finds
them through importlib.resources once installed. Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithScenarios(build_py):
    """build_py, plus scenarios/*.yaml copied to jobsim/scenarios/ in the build."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:          # an editable install reads the checkout's folder
            return
        target = Path(self.build_lib) / "jobsim" / "scenarios"
        self.mkpath(str(target))
        for path in sorted(Path("scenarios").glob("*.yaml")):
            self.copy_file(str(path), str(target / path.name))


setup(cmdclass={"build_py": BuildWithScenarios})
