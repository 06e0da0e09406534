"""eqzoo model zoo: reference architectures with named presets (see the zoo issue)."""
