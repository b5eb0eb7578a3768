"""``iklim deploy``: apply a plan to a running Swarm in cluster-aware order (issue 14)."""
