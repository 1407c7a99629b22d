"""Plotly figure builders (functions returning go.Figure / go.FigureWidget). Tensors move to CPU here."""
