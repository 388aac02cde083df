"""The study's analyses beyond single tables: tail studies, significance (paired bootstrap),
the head-to-head, the regime sweep, JRPP's Figures 4-6, the results page and the SMP Challenge
export. Most read earlier stages' predictions; the regime sweep and the Figure 5 k / M points
train the models they compare (each module says what it fits)."""
