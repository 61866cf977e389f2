"""What every trainer shares: the loop, EMA, the recording sampler, checkpoints, where it runs."""
