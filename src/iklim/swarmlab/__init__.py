"""The Swarm lab: the rendered stacks on a real 6-node Docker Swarm inside network namespaces."""
