"""Decoding of model outputs: CTC (greedy, beam search with an n-gram LM, alignments), LMs."""
