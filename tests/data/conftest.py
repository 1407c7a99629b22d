# The notebooks here are fixtures for test_sweep/test_cli/test_browser (which execute them);
# `pytest tests --nbval-lax` should not run them a second time as notebooks.
collect_ignore_glob = ["*.ipynb"]
