"""Test support shared by the unit, process and integration tests: fakes of the ports, clocks, paths, processes."""
