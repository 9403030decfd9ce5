"""Language models that learn RASP programs: data, training, perplexity, Chinchilla scaling laws.

Modules: data, train, perplexity, chinchilla, scaling, cli (see lm/README.md). Nothing is
imported here, so that `rasp --help` stays fast.
"""
