"""Numbers over stored reports: aggregates and their differentially private releases,
volume anomalies, and the plots drawn from them.
"""
