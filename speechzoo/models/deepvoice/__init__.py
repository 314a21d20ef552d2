"""Deep Voice (Arik et al. 2017, arXiv 1702.07825): its stages as plain modules."""
