"""Domain apps built on the shared latent-EBM core."""
