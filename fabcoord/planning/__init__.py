"""Planning: which fablab or maker makes which order line, by when, and what limits it.

The core owns it because it joins every capability: demand comes from :mod:`fabcoord.demand`,
printer capacity and materials from providers the composition root registers
(:mod:`fabcoord.planning.capacity`), makers from :mod:`fabcoord.makers`.
"""
