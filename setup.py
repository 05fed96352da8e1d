"""pip's build of agent-sync (pyproject.toml holds the metadata): the module,
and beside it in site-packages the zipapp build.py makes, which `agent-sync
install` copies into a repository exactly as the zipapp itself does."""

import os
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class WithZipapp(build_py):
    """build_py, then build.py's zipapp into the wheel, next to agent_sync.py."""

    def run(self):
        super().run()
        out = os.path.join(self.build_lib, "agent-sync.pyz")
        subprocess.run([sys.executable, os.path.join(HERE, "build.py"), "-o", out], check=True)


setup(cmdclass={"build_py": WithZipapp})
