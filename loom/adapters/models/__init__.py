"""Model providers: one module per backend, all implementing ``ModelProvider``."""
