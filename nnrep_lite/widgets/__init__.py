"""ipywidgets panels, one per notebook: the only layer that imports ipywidgets."""
