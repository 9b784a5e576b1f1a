"""A small JAX/Flax decoder-only transformer whose residual stream can be probed for beliefs."""
