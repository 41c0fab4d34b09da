"""Channel-specific settlement formats mapped onto the generic CSV lines."""
