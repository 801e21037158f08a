"""The ``coreselect`` command line: a thin layer over the library."""
