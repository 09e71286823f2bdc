"""What joins the engine to 3D Slicer: ``mrml`` (volume nodes in, fiducial and slice views out; the only
engine code that imports ``slicer``), ``detection_job`` (detection in a worker thread, so the panel stays
responsive) and ``python_dependencies`` (which packages detection needs, for Slicer to install)."""
