"""Fit scikit-learn's IsolationForest on a CSV of points and score them.

Usage: sklearn_iforest.py POINTS.csv TREES SAMPLE
Prints JSON: {"fit_s": ..., "score_s": ..., "scores": [...]}, higher scores
more anomalous (the negated score_samples). Used by the Go test that
compares Watchkeeper's isolation forest with scikit-learn's.
"""
import json
import sys
import time

import numpy as np
from sklearn.ensemble import IsolationForest

points = np.loadtxt(sys.argv[1], delimiter=",", ndmin=2)
trees, sample = int(sys.argv[2]), int(sys.argv[3])
model = IsolationForest(n_estimators=trees, max_samples=sample, random_state=0)
t0 = time.perf_counter()
model.fit(points)
t1 = time.perf_counter()
scores = -model.score_samples(points)
t2 = time.perf_counter()
json.dump({"fit_s": t1 - t0, "score_s": t2 - t1, "scores": scores.tolist()}, sys.stdout)
