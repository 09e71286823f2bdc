"""Fine-tuning L3Spotter's window regressor on annotated scans or synthetic phantoms.

Preprocessing is the engine's own (``L3SpotterLib.mip``), imported, never re-implemented here.
"""
