"""The checks themselves: the sampled cases, the judgement of an implementation's numbers against
the oracle, the elementwise checks and the article's claims."""
