"""L3Spotter engine: find the L3 vertebra slice in a CT scan.

The engine is plain Python (numpy, scipy, SimpleITK, torch). Only :mod:`L3SpotterLib.mrml` touches
Slicer's MRML classes. Data flows one way:
file or array -> geometry -> MIP -> windows -> CNN -> ramp correlation -> result.
"""

__version__ = "0.1.0"
