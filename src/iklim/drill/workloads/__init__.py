"""One client workload per cluster, through the client path the applications use."""
