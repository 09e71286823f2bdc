"""The application layer: the ``l3spotter`` command line (``cli``), batch runs over files and folders
(``case_discovery``, ``batch``, ``output_folder``, ``input_fingerprint``) and the QC picture
(``report_png``, which the Slicer panel shows too). Built on the engine core; the core never imports it."""
