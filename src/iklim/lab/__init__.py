"""The lab: the production topology running for real on one machine, from the same model."""
