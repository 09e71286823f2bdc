"""L3Spotter engine: find the L3 vertebra slice in a CT scan.

The modules of this folder are the engine core, plain Python (numpy, scipy, SimpleITK, torch). Data
flows one way: file or array -> input checks and geometry -> MIP -> windows -> CNN -> ramp correlation,
with the vertebra count beside it -> result. The subpackages sit on top of the core and are never
imported by it:

* ``app``: the ``l3spotter`` command line, batch runs and the QC picture;
* ``slicer_adapter``: Slicer's MRML scene <-> the engine (the only code that imports ``slicer``), the
  panel's worker thread and its Python dependencies;
* ``phantom``: the synthetic CT generator (demo, self-test, training and benchmarks).
"""

__version__ = "0.1.0"
