# Colab: install the companion when it is missing (does nothing in Binder and the book).
# It clones the `launch` branch (the sources and the executed chapters) and installs the package
# with its `colab` extra; MFT_COLAB_SOURCE=<folder> installs from that checkout instead.
import importlib.util

if importlib.util.find_spec("mftransformer") is None:
    import os
    import subprocess
    import sys

    source = os.environ.get("MFT_COLAB_SOURCE")
    if not source:
        url = "https://github.com/mftransformer/mftransformer-companion"
        clone = ["git", "clone", "--depth=1", "--branch=launch", url, "companion"]
        subprocess.run(clone, check=True)
        source = "companion"
    source = os.path.abspath(source)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", source + "[colab]"], check=True)
    os.chdir(os.path.join(source, "notebooks"))  # params and figure folders are found from here
    importlib.invalidate_caches()
